"""Baselines and the regression gate on a scripted provider: every diff status, the
ratchet, tolerances, strict mode, partial updates and broken baseline files."""

from __future__ import annotations

import json

import pytest

from promptctl.errors import ExitCode, InfraError, UserError
from promptctl.gate.check import check, diff_saved_run, update_baselines
from promptctl.load.project import load_project
from promptctl.load.suites import load_suite
from promptctl.run.options import RunOptions
from promptctl.run.runner import run_suites

pytestmark = pytest.mark.usefixtures("scripted")

CONFIG = "models:\n  bot: {provider: scripted, model: bot-1, params: {temperature: 0}}\n"
PROMPTS = "prompts:\n  q: {template: '{{ q }}'}\n"


def suite(*cases: str, extra: str = "") -> str:
    return "prompts: [p.q]\nmodels: [bot]\n" + extra + "cases:\n" + "".join(
        f"  - {c}\n" for c in cases)


def setup(make_project, suite_text: str):
    root = make_project({"promptctl.yaml": CONFIG, "prompts/p.yaml": PROMPTS,
                         "suites/s.yaml": suite_text})
    return root


def loaded():
    project = load_project()
    return project, [load_suite(project, p) for p in project.suite_paths()]


def baseline_now(scripted, answers):
    scripted.reset(answers)
    project, suites = loaded()
    result = run_suites(project, suites, RunOptions(use_cache=False))
    update_baselines(project, suites, result.records, partial=False)
    return project


def check_now(scripted, answers, **kw):
    scripted.reset(answers)
    project, suites = loaded()
    options = RunOptions(use_cache=False, filter=kw.pop("filter", None))
    return check(project, suites, options, **kw)[1]


CASES = [
    "{id: keeps, vars: {q: a}, assert: [{type: contains, value: 'yes'}]}",
    "{id: breaks, vars: {q: b}, assert: [{type: contains, value: 'yes'}]}",
    "{id: fixes, vars: {q: c}, assert: [{type: contains, value: 'yes'}]}",
    "{id: still-bad, vars: {q: d}, assert: [{type: contains, value: 'yes'}]}",
    "{id: rewords, vars: {q: e}, assert: [{type: contains, value: 'yes'}]}",
]


def test_every_status_and_the_ratchet(make_project, scripted):
    setup(make_project, suite(*CASES))
    baseline_now(scripted, {"a": "yes", "b": "yes", "c": "no", "d": "no", "e": "yes one"})
    report = check_now(scripted, {"a": "yes", "b": "no", "c": "yes", "d": "nope",
                                  "e": "yes two"})
    status = {c.case: c.status for c in report.cells()}
    assert status == {"keeps": "unchanged", "breaks": "broken", "fixes": "fixed",
                      "still-bad": "failing", "rewords": "changed"}
    assert report.exit_code == ExitCode.FAILED
    assert [c.case for c in report.failing()] == ["breaks"]
    (s,) = report.suites
    assert s.pass_rate == (0.6, 0.6)

    # the case that already failed in the baseline does not fail the gate
    report = check_now(scripted, {"a": "yes", "b": "yes", "c": "no", "d": "nope",
                                  "e": "yes two"})
    assert report.exit_code == ExitCode.OK
    assert report.strict is False


def test_strict_fails_on_any_output_change(make_project, scripted):
    setup(make_project, suite(CASES[0], CASES[4]))
    baseline_now(scripted, {"a": "yes", "e": "yes one"})
    assert check_now(scripted, {"a": "yes", "e": "yes two"}).exit_code == ExitCode.OK
    report = check_now(scripted, {"a": "yes", "e": "yes two"}, strict=True)
    assert report.exit_code == ExitCode.FAILED
    assert [c.case for c in report.failing()] == ["rewords"]
    assert check_now(scripted, {"a": "yes", "e": "yes one"}, strict=True).exit_code == 0


def test_new_and_removed_cases_are_reported_not_dropped(make_project, scripted):
    root = setup(make_project, suite(CASES[0], CASES[1]))
    baseline_now(scripted, {"a": "yes", "b": "yes"})
    (root / "suites/s.yaml").write_text(suite(
        CASES[0], "{id: added, vars: {q: z}, assert: [{type: contains, value: 'yes'}]}"))
    report = check_now(scripted, {"a": "yes", "z": "yes"})
    assert {c.case: c.status for c in report.cells()} == {
        "keeps": "unchanged", "breaks": "removed", "added": "new"}
    assert report.exit_code == ExitCode.OK


def test_filtered_runs_do_not_report_unrun_cases_as_removed(make_project, scripted):
    setup(make_project, suite(CASES[0], CASES[1]))
    baseline_now(scripted, {"a": "yes", "b": "yes"})
    report = check_now(scripted, {"a": "yes"}, filter="keeps")
    assert [c.case for c in report.cells()] == ["keeps"]
    assert report.suites[0].not_run == 1


def test_fingerprint_changes_are_named(make_project, scripted):
    root = setup(make_project, suite(CASES[0]))
    baseline_now(scripted, {"a": "yes"})
    (root / "promptctl.yaml").write_text(CONFIG.replace("bot-1", "bot-2")
                                         .replace("temperature: 0", "temperature: 0.7"))
    (root / "prompts/p.yaml").write_text(PROMPTS.replace("{{ q }}", "Q: {{ q }}"))
    scripted.reset({"Q: a": "yes"})
    project, suites = loaded()
    _, report = check(project, suites, RunOptions(use_cache=False))
    (cell,) = report.cells()
    assert cell.status == "unchanged"
    assert cell.fingerprint == ["model model: bot-1 -> bot-2",
                                "param temperature: 0.0 -> 0.7",
                                "prompt edited (rendered messages differ)"]


def test_max_drop_tolerates_small_score_drops(make_project, scripted):
    lev = "{id: near, vars: {q: a}, assert: [{type: levenshtein, value: 'the answer is 42', " \
          "threshold: 0.95, max_drop: %s}]}"
    setup(make_project, suite(lev % "0.1"))
    baseline_now(scripted, {"a": "the answer is 42"})
    report = check_now(scripted, {"a": "the answer is 4"})  # similarity 0.94 < 0.95
    assert [c.status for c in report.cells()] == ["tolerated"]
    assert report.exit_code == ExitCode.OK
    report = check_now(scripted, {"a": "no idea at all"})
    assert [c.status for c in report.cells()] == ["broken"]


def test_suite_max_drop_gates_named_metrics(make_project, scripted):
    cases = [f"{{id: c{i}, vars: {{q: '{i}'}}, assert: [{{type: levenshtein, value: "
             f"'answer {i}', threshold: 0.1, metric: sim}}]}}" for i in range(3)]
    setup(make_project, suite(*cases, extra="max_drop: 0.05\n"))
    baseline_now(scripted, {str(i): f"answer {i}" for i in range(3)})
    report = check_now(scripted, {str(i): f"answ {i}" for i in range(3)})
    assert all(c.status == "changed" for c in report.cells())
    (s,) = report.suites
    assert s.metrics["sim"][0] == 1.0 and s.metrics["sim"][1] < 0.95
    assert s.metric_regressions and "metric sim dropped" in s.metric_regressions[0]
    assert report.exit_code == ExitCode.FAILED


def test_missing_baseline_is_an_error_unless_allowed(make_project, scripted):
    setup(make_project, suite(CASES[0]))
    with pytest.raises(UserError, match="no baseline for suite 's'") as exc:
        check_now(scripted, {"a": "yes"})
    assert "promptctl baseline update s" in (exc.value.hint or "")
    assert scripted.calls == []  # no model time spent before failing
    report = check_now(scripted, {"a": "yes"}, allow_missing=True)
    assert [c.status for c in report.cells()] == ["new"]
    assert report.exit_code == ExitCode.OK


def test_errors_give_no_verdict_and_are_never_baselined(make_project, scripted):
    setup(make_project, suite(CASES[0], "{id: down, vars: {q: FAIL-INFRA}}"))
    scripted.reset({"a": "yes"})
    project, suites = loaded()
    result = run_suites(project, suites, RunOptions(use_cache=False))
    with pytest.raises(InfraError, match="1 calls failed"):
        update_baselines(project, suites, result.records, partial=False)
    assert not (project.baselines_dir / "s.json").exists()


def test_partial_update_keeps_other_cases(make_project, scripted):
    setup(make_project, suite(CASES[0], CASES[1]))
    baseline_now(scripted, {"a": "yes", "b": "yes"})
    scripted.reset({"a": "yes", "b": "yes indeed"})
    project, suites = loaded()
    result = run_suites(project, suites, RunOptions(use_cache=False, filter="breaks"))
    update_baselines(project, suites, result.records, partial=True)
    data = json.loads((project.baselines_dir / "s.json").read_text())
    outputs = {case: cell["p.q"]["bot"]["samples"][0]["output"]
               for case, cell in data["cases"].items()}
    assert outputs == {"keeps": "yes", "breaks": "yes indeed"}


def test_baseline_json_is_deterministic_and_has_no_timestamps(make_project, scripted):
    setup(make_project, suite(CASES[0], CASES[1]))
    project = baseline_now(scripted, {"a": "yes", "b": "no"})
    first = (project.baselines_dir / "s.json").read_text()
    baseline_now(scripted, {"a": "yes", "b": "no"})
    second = (project.baselines_dir / "s.json").read_text()
    assert first.replace('"latency_ms": 1', "") == second.replace('"latency_ms": 1', "")
    data = json.loads(first)
    assert list(data) == sorted(data)
    assert "2026" not in first and "started" not in first
    assert first.count("\n") > 30  # one value per line: reviewable diffs


def test_diff_of_a_saved_run(make_project, scripted):
    setup(make_project, suite(CASES[0], CASES[1]))
    baseline_now(scripted, {"a": "yes", "b": "yes"})
    scripted.reset({"a": "yes", "b": "no"})
    project, suites = loaded()
    result = run_suites(project, suites, RunOptions(use_cache=False))
    report = diff_saved_run(project)
    assert report.run_id == result.run_id
    assert {c.case: c.status for c in report.cells()} == {"keeps": "unchanged",
                                                           "breaks": "broken"}


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ('{\n  "version": 1,\n  "cases": {,\n}\n', 3, "invalid JSON"),
    ('{"version": 1, "suite": "s"}\n', 1, "malformed baseline: missing required key 'cases'"),
    ('{"version": 9, "suite": "s", "cases": {}}\n', 1, "unsupported baseline version"),
])
def test_broken_baseline_files_are_exit_2_with_file_and_line(make_project, scripted, cli,
                                                              text, line, fragment):
    root = setup(make_project, suite(CASES[0]))
    (root / "baselines").mkdir()
    (root / "baselines/s.json").write_text(text)
    result = cli("check")
    assert result.exit_code == 2, result.output
    where = "baselines/s.json" + (f":{line}" if line else "")
    assert result.stderr.startswith(f"error: {where}: "), result.stderr
    assert fragment in result.stderr
    assert "Traceback" not in result.output


def test_cli_baseline_from_the_last_run_then_diff(make_project, scripted, cli, tmp_path):
    setup(make_project, suite(CASES[0], CASES[1]))
    scripted.reset({"a": "yes", "b": "yes"})
    assert cli("run", "-q").exit_code == 0
    result = cli("baseline", "update", "--run", "latest")
    assert result.exit_code == 0, result.output
    assert "wrote baselines/s.json: 2 cases, 2 passing (new baseline)" in result.stdout
    assert len(scripted.calls) == 2  # taken from the saved run, not run again

    scripted.reset({"a": "yes", "b": "no"})
    assert cli("run", "-q", "--no-cache").exit_code == 1
    result = cli("diff", "-o", "diff.md", "-o", "diff.json")
    assert result.exit_code == 1
    assert "BROKEN" in result.stdout and "REGRESSED: 1 case regressed" in result.stdout
    md = (tmp_path / "diff.md").read_text()
    assert "### Broken (regressions) (1)" in md and "~~yes~~ **no**" in md
    doc = json.loads((tmp_path / "diff.json").read_text())
    assert doc["verdict"] == "regressed" and doc["counts"] == {"broken": 1, "unchanged": 1}

    result = cli("baseline", "update", "--run", "latest")
    assert "(vs previous: 1 broken)" in result.stdout
    assert cli("diff", "-q").exit_code == 0
    assert cli("diff", "nosuchrun").exit_code == 2
    assert cli("diff", "-o", "diff.pdf").exit_code == 2

"""Noise-aware verdicts on a scripted provider whose repeats differ by seed."""

from __future__ import annotations

import json

import pytest

from promptctl.errors import ExitCode
from promptctl.gate.check import check, update_baselines
from promptctl.gate.verdicts import deterministic
from promptctl.load.project import load_project
from promptctl.load.suites import load_suite
from promptctl.run.options import RunOptions
from promptctl.run.runner import run_suites

pytestmark = pytest.mark.usefixtures("scripted")

CONFIG = ("models:\n  bot: {provider: scripted, model: bot-1, "
          "params: {temperature: 0.8, seed: 0}}\n")


def project_of(make_project, cases: int, repeat: int, extra: str = ""):
    lines = "".join(f"  - {{id: c{i}, vars: {{q: '{i}'}}, "
                    f"assert: [{{type: contains, value: good, metric: acc}}]}}\n"
                    for i in range(cases))
    make_project({"promptctl.yaml": CONFIG,
                  "prompts/p.yaml": "prompts:\n  q: {template: '{{ q }}'}\n",
                  "suites/s.yaml": f"prompts: [p.q]\nmodels: [bot]\nrepeat: {repeat}\n"
                                   f"{extra}cases:\n{lines}"})


def pattern(passes: int, repeat: int) -> list[str]:
    return ["good"] * passes + ["bad"] * (repeat - passes)


def gate(scripted, answers, **kw):
    scripted.reset(answers)
    project = load_project()
    suites = [load_suite(project, p) for p in project.suite_paths()]
    return check(project, suites, RunOptions(use_cache=False), **kw)[1]


def baseline(scripted, answers):
    scripted.reset(answers)
    project = load_project()
    suites = [load_suite(project, p) for p in project.suite_paths()]
    result = run_suites(project, suites, RunOptions(use_cache=False))
    update_baselines(project, suites, result.records, partial=False)


def test_flakiness_alone_does_not_fail_the_check(make_project, scripted):
    project_of(make_project, 3, 5)
    baseline(scripted, {str(i): pattern(3, 5) for i in range(3)})
    report = gate(scripted, {"0": pattern(2, 5), "1": pattern(3, 5), "2": pattern(4, 5)})
    assert {c.case: c.status for c in report.cells()} == {
        "c0": "dropped", "c1": "flaky", "c2": "improved"}
    assert report.exit_code == ExitCode.OK
    (s,) = report.suites
    assert s.hypotheses[0].name == "pass rate" and not s.hypotheses[0].regression


def test_one_sample_at_temperature_above_zero_is_judged_statistically(make_project, scripted):
    project_of(make_project, 2, 1)
    baseline(scripted, {"0": "good", "1": "good"})
    report = gate(scripted, {"0": "bad", "1": "good"})
    assert [c.status for c in report.cells()] == ["dropped", "unchanged"]
    assert report.exit_code == ExitCode.OK  # one flip of one sample proves nothing


def test_a_broad_drop_fails_at_the_suite_level(make_project, scripted):
    project_of(make_project, 20, 5)
    baseline(scripted, {str(i): pattern(5, 5) for i in range(20)})
    report = gate(scripted, {str(i): pattern(3, 5) for i in range(20)})
    assert {c.status for c in report.cells()} == {"dropped"}  # no single case proves it
    (s,) = report.suites
    rate = s.hypotheses[0]
    assert rate.regression and rate.p_value < 1e-6
    assert s.metric_regressions[0].startswith("pass rate dropped: pass rate 100% -> 60%")
    assert any(h.name == "metric acc" and h.regression for h in s.hypotheses)
    assert report.exit_code == ExitCode.FAILED
    assert s.power is not None and "with 20 cases x 5 repeats" in s.power.describe()


def test_a_collapsed_case_is_named(make_project, scripted):
    project_of(make_project, 4, 10)
    answers = {str(i): pattern(10, 10) for i in range(4)}
    baseline(scripted, answers)
    report = gate(scripted, {**answers, "2": pattern(0, 10)})
    status = {c.case: c.status for c in report.cells()}
    assert status == {"c0": "unchanged", "c1": "unchanged", "c2": "broken", "c3": "unchanged"}
    broken = next(c for c in report.cells() if c.case == "c2")
    assert broken.p_value == pytest.approx(1 / 184756)  # 1 / C(20, 10)
    assert report.exit_code == ExitCode.FAILED


def test_max_drop_and_alpha_bound_what_counts(make_project, scripted):
    project_of(make_project, 20, 5, extra="max_drop: 0.5\n")
    baseline(scripted, {str(i): pattern(5, 5) for i in range(20)})
    report = gate(scripted, {str(i): pattern(3, 5) for i in range(20)})
    assert report.exit_code == ExitCode.OK  # significant, but a 40-point drop < max_drop


def test_alpha_is_the_false_alarm_budget(make_project, scripted):
    project_of(make_project, 6, 5)
    baseline(scripted, {str(i): pattern(5, 5) for i in range(6)})
    answers = {str(i): pattern(3, 5) for i in range(6)}
    assert gate(scripted, answers).exit_code == ExitCode.FAILED
    assert gate(scripted, answers, alpha=0.0001).exit_code == ExitCode.OK


def test_diff_json_and_markdown_carry_the_statistics(make_project, scripted, cli, tmp_path):
    project_of(make_project, 20, 5)
    baseline(scripted, {str(i): pattern(5, 5) for i in range(20)})
    scripted.reset({str(i): pattern(3, 5) for i in range(20)})
    result = cli("check", "--no-cache", "-o", "d.json", "-o", "d.md")
    assert result.exit_code == 1, result.output
    assert "power: with 20 cases x 5 repeats" in result.stdout
    assert "pass rate 100% [" in result.stdout and "-> 60% [" in result.stdout
    doc = json.loads((tmp_path / "d.json").read_text())
    suite = doc["suites"][0]
    assert doc["alpha"] == 0.05
    assert suite["tests"][0]["name"] == "pass rate" and suite["tests"][0]["regression"]
    assert suite["power"]["min_detectable_drop"] > 0
    lo, hi = suite["pass_rate"]["after_ci"]
    assert lo < suite["pass_rate"]["after"] == 0.6 < hi
    cell = suite["cases"][0]
    assert cell["status"] == "dropped"
    assert cell["p_value"] == pytest.approx(56 / 252)  # C(8,3) / C(10,5)
    md = (tmp_path / "d.md").read_text()
    assert "5/5 → 3/5" in md and "may go unnoticed" in md


@pytest.mark.parametrize(("fp", "expected"), [
    ({"params": {"temperature": 0}, "model": {"provider": "openai"}}, True),
    ({"params": {"temperature": 0.7}, "model": {"provider": "llama-cpp"}}, False),
    ({"params": {}, "model": {"provider": "llama-cpp"}}, True),
    ({"params": {}, "model": {"provider": "openai"}}, False),  # the API defaults to 1.0
])
def test_what_counts_as_deterministic(fp, expected):
    assert deterministic(fp) is expected


def calls_per_case(scripted) -> dict[str, int]:
    out: dict[str, int] = {}
    for prompt, _ in scripted.calls:
        out[prompt] = out.get(prompt, 0) + 1
    return out


def test_repeat_auto_without_a_baseline_settles_passing_cells_at_once(make_project, scripted,
                                                                       cli):
    project_of(make_project, 3, 1)
    scripted.reset({"0": "good", "1": ["bad", "bad", "good"], "2": "bad"})
    result = cli("run", "--repeat", "auto", "--max-repeat", "4", "--no-cache")
    assert result.exit_code == 1
    assert calls_per_case(scripted) == {"0": 1, "1": 3, "2": 4}
    assert "(1 flaky)" in result.stdout and "2/4" not in result.stdout
    assert "1/3" in result.stdout and "0/4" in result.stdout


def test_repeat_auto_in_a_check_samples_only_cells_that_look_worse(make_project, scripted):
    project_of(make_project, 4, 5)
    baseline(scripted, {str(i): pattern(5, 5) for i in range(4)})
    scripted.reset({"0": "good", "1": "good", "2": ["bad", "good"], "3": "bad"})
    project = load_project()
    suites = [load_suite(project, p) for p in project.suite_paths()]
    _, report = check(project, suites, RunOptions(use_cache=False, auto_repeat=True,
                                                  max_repeat=10))
    per_case = calls_per_case(scripted)
    assert per_case["0"] == per_case["1"] == 1  # matches its baseline: settled
    assert per_case["2"] == 10  # looks worse, never conclusive: up to the cap
    assert per_case["3"] < 10  # 0/k against 5/5 becomes conclusive before the cap
    status = {c.case: c.status for c in report.cells()}
    assert status["c3"] == "broken" and status["c2"] == "dropped"


def test_suite_repeat_auto_and_bad_repeat_flags(make_project, scripted, cli):
    project_of(make_project, 2, "auto")
    scripted.reset({"0": "good", "1": ["bad", "good"]})
    assert cli("run", "--no-cache", "-q").exit_code == 1
    assert calls_per_case(scripted) == {"0": 1, "1": 2}
    for bad in ("0", "many", "-2"):
        result = cli("run", "--repeat", bad)
        assert result.exit_code == 2 and "bad --repeat" in result.stderr


def test_resample_draws_fresh_seeds_and_keeps_the_cache(make_project, scripted, cli):
    project_of(make_project, 1, 3)
    scripted.reset({"0": pattern(1, 7)})
    assert cli("run", "-q").exit_code == 1
    seeds_first = sorted(p["seed"] for _, p in scripted.calls)
    assert seeds_first == [0, 1, 2]
    cli("run", "-q")
    assert len(scripted.calls) == 3  # all three served from the cache
    cli("run", "-q", "--resample")
    fresh = sorted(p["seed"] for _, p in scripted.calls[3:])
    assert len(fresh) == 3 and fresh[1] == fresh[0] + 1 and fresh[0] not in seeds_first
    cli("run", "-q")
    assert len(scripted.calls) == 6  # the original samples are still cached
    assert "entries: 6" in cli("cache", "stats").stdout

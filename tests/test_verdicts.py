"""Noise-aware verdicts on a scripted provider whose repeats differ by seed."""

from __future__ import annotations

import json

import pytest
from scripted_provider import ScriptedProvider

from promptctl.errors import ExitCode
from promptctl.gate import check, update_baselines
from promptctl.project import load_project
from promptctl.providers import registry
from promptctl.runner import RunOptions, run_suites
from promptctl.verdicts import deterministic

CONFIG = ("models:\n  bot: {provider: scripted, model: bot-1, "
          "params: {temperature: 0.8, seed: 0}}\n")


@pytest.fixture(autouse=True)
def scripted(monkeypatch):
    monkeypatch.setitem(registry.BUILTIN, "scripted", "scripted_provider:ScriptedProvider")
    ScriptedProvider.reset()
    return ScriptedProvider


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
    suites = [project.load_suite(p) for p in project.suite_paths()]
    return check(project, suites, RunOptions(use_cache=False), **kw)[1]


def baseline(scripted, answers):
    scripted.reset(answers)
    project = load_project()
    suites = [project.load_suite(p) for p in project.suite_paths()]
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
    doc = json.loads((tmp_path / "d.json").read_text())
    suite = doc["suites"][0]
    assert doc["alpha"] == 0.05
    assert suite["tests"][0]["name"] == "pass rate" and suite["tests"][0]["regression"]
    assert suite["power"]["min_detectable_drop"] > 0
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

"""pass@k / pass^k through the real CLI, on a scripted provider whose repeats differ by
seed (a known pass pattern per case): the summaries' numbers are the formulas', and a
suite's `gate:` passes, fails or only reports as docs/passk.md says."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from promptctl import stats

pytestmark = pytest.mark.usefixtures("scripted")

CONFIG = ("models:\n  bot: {provider: scripted, model: bot-1, "
          "params: {temperature: 0.8, seed: 0}}\n")


def project(make_project, cases: int, repeat: int, gate: str = "") -> None:
    lines = "".join(f"  - {{id: c{i}, vars: {{q: '{i}'}}, "
                    f"assert: [{{type: contains, value: good}}]}}\n" for i in range(cases))
    make_project({"promptctl.yaml": CONFIG,
                  "prompts/p.yaml": "prompts:\n  q: {template: '{{ q }}'}\n",
                  "suites/s.yaml": f"prompts: [p.q]\nmodels: [bot]\nrepeat: {repeat}\n"
                                   f"{gate}cases:\n{lines}"})


def pattern(passes: int, repeat: int) -> list[str]:
    return ["good"] * passes + ["bad"] * (repeat - passes)


def answers(passes: list[int], repeat: int) -> dict[str, str | list[str]]:
    return {str(i): pattern(c, repeat) for i, c in enumerate(passes)}


def expected(passes: list[int], n: int, k: int) -> dict[str, dict[str, object]]:
    at = [1 - math.comb(n - c, k) / math.comb(n, k) for c in passes]
    hat = [math.comb(c, k) / math.comb(n, k) for c in passes]
    out = {}
    for name, values in (("pass@k", at), ("pass^k", hat)):
        mean, lo, hi = stats.mean_interval([[v] for v in values])
        out[name] = {"mean": round(mean, 4), "ci": [round(lo, 4), round(hi, 4)]}
    return out


def test_run_summaries_give_the_formulas_numbers(make_project, scripted, cli, tmp_path):
    passes = [5, 4, 3, 1, 0, 5]
    project(make_project, len(passes), 5)
    scripted.reset(answers(passes, 5))
    result = cli("run", "--no-cache", "-o", "r.json", "-o", "r.md", "-o", "r.html")
    assert result.exit_code == 1, result.output  # run's exit code is about cases only
    want = {"s": {"k": 5, "cells": 6, **expected(passes, 5, 5)}}
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["summary"]["pass_k"] == want
    (summary,) = (tmp_path / ".promptctl/runs").glob("*/summary.json")
    assert json.loads(summary.read_text())["summary"]["pass_k"] == want
    at, hat = want["s"]["pass@k"], want["s"]["pass^k"]
    assert isinstance(at, dict) and isinstance(hat, dict)
    assert f"s: pass@5 {at['mean']:.0%}" in result.stdout
    assert f"pass^5 {hat['mean']:.0%}" in result.stdout
    assert f"| s | 5 | {at['mean']:.1%}" in (tmp_path / "r.md").read_text()
    assert 'id="pass-k"' in (tmp_path / "r.html").read_text()


def test_no_pass_k_without_repeats(make_project, scripted, cli, tmp_path):
    project(make_project, 2, 1)
    result = cli("run", "--no-cache", "-o", "r.json")
    assert "pass@" not in result.stdout
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["pass_k"] == {}


def test_k_is_the_smallest_sample_count_and_repeat_overrides(make_project, scripted, cli,
                                                             tmp_path):
    passes = [3, 2, 0]
    project(make_project, 3, 5)
    scripted.reset(answers(passes, 3))
    cli("run", "--no-cache", "--repeat", "3", "-o", "r.json")
    got = json.loads((tmp_path / "r.json").read_text())["summary"]["pass_k"]
    assert got == {"s": {"k": 3, "cells": 3, **expected(passes, 3, 3)}}


def gate_doc(tmp_path: Path) -> dict[str, object]:
    return json.loads((tmp_path / "d.json").read_text())["suites"][0]


def test_a_gate_fails_when_the_interval_is_below(make_project, scripted, cli, tmp_path):
    project(make_project, 20, 5, 'gate: {"pass^k": 0.9}\n')
    scripted.reset(answers([2] * 20, 5))
    result = cli("check", "--allow-missing", "--no-cache", "-o", "d.json", "-o", "d.md",
                 "-o", "d.html")
    assert result.exit_code == 1, result.output
    (verdict,) = gate_doc(tmp_path)["gate"]  # type: ignore[misc]
    assert verdict["status"] == "fail" and verdict["k"] == 5 and verdict["mean"] == 0.0
    assert verdict["ci"][1] < 0.9
    assert "gate: pass^5 0% [" in result.stdout
    assert "significantly below the gate 0.9" in result.stdout
    assert "REGRESSED: s gate: pass^5" in result.stdout
    assert "**s**: gate: pass^5" in (tmp_path / "d.md").read_text()
    page = (tmp_path / "d.html").read_text()
    assert "gate: pass^5 0% [" in page and 'id="pass-k"' in page


def test_a_point_below_with_an_interval_that_reaches_is_reported(make_project, scripted, cli,
                                                                  tmp_path):
    project(make_project, 3, 5, 'gate: {"pass^k": 0.9, "pass@k": 0.99}\n')
    scripted.reset(answers([5, 5, 4], 5))
    result = cli("check", "--allow-missing", "--no-cache", "-o", "d.json")
    assert result.exit_code == 0, result.output
    hat, at = gate_doc(tmp_path)["gate"]  # type: ignore[misc]
    assert hat["status"] == "below" and hat["mean"] == pytest.approx(2 / 3, abs=1e-4)
    assert hat["ci"][1] >= 0.9
    assert at["status"] == "pass" and at["mean"] == 1.0
    assert "below the gate 0.9, but the interval reaches it (not significant)" in result.stdout


def test_a_gate_met_passes_and_k_is_the_gates(make_project, scripted, cli, tmp_path):
    project(make_project, 20, 5, "gate: {pass^k: 0.5, k: 2}\n")
    scripted.reset(answers([5] * 20, 5))
    result = cli("check", "--allow-missing", "--no-cache", "-o", "d.json")
    assert result.exit_code == 0, result.output
    (verdict,) = gate_doc(tmp_path)["gate"]  # type: ignore[misc]
    assert verdict["status"] == "pass" and verdict["k"] == 2 and verdict["ci"][0] > 0.5


def test_a_gate_k_above_the_repeats_fails_with_the_repeat_it_needs(make_project, scripted, cli):
    project(make_project, 2, 3, "gate: {pass@k: 0.5, k: 4}\n")
    scripted.reset(answers([3, 3], 3))
    result = cli("check", "--allow-missing", "--no-cache")
    assert result.exit_code == 1, result.output
    assert "needs 4 samples of every cell; the smallest has 3 (run with --repeat 4" \
        in result.stdout
    assert cli("run", "--no-cache").exit_code == 0  # every case passed: a gate is check's
    assert cli("check", "--allow-missing", "--no-cache", "--repeat", "4").exit_code == 0


def test_a_significant_drop_against_the_baseline_fails(make_project, scripted, cli, tmp_path):
    """Same pass rate (50%), less consistency: cells that went 4/4 and 0/4 now go 2/4
    each. The pass rate test sees no drop; pass^2 falls from 1/2 to 1/6."""
    project(make_project, 40, 4, "gate: {pass^k: 0, k: 2}\n")
    scripted.reset(answers([4, 0] * 20, 4))
    assert cli("baseline", "update", "--no-cache", "-q").exit_code == 0
    scripted.reset(answers([2] * 40, 4))
    result = cli("check", "--no-cache", "-o", "d.json", "-o", "d.md")
    assert result.exit_code == 1, result.output
    tests = {t["name"]: t for t in gate_doc(tmp_path)["tests"]}  # type: ignore[attr-defined]
    assert not tests["pass rate"]["regression"]
    drop = tests["pass^2"]
    assert drop["regression"] and drop["adjusted"] < 0.001
    assert drop["before"] == pytest.approx(0.5) and drop["after"] == pytest.approx(1 / 6)
    assert "pass^2 dropped: pass^2 50% -> 17%" in result.stdout
    assert "REGRESSED: s pass^2 50% -> 17%" in result.stdout
    assert "pass^2 dropped" in (tmp_path / "d.md").read_text()


def test_a_drop_on_few_cells_is_not_a_regression(make_project, scripted, cli, tmp_path):
    project(make_project, 4, 4, "gate: {pass^k: 0, k: 2}\n")
    scripted.reset(answers([4, 0] * 2, 4))
    assert cli("baseline", "update", "--no-cache", "-q").exit_code == 0
    scripted.reset(answers([2] * 4, 4))
    result = cli("check", "--no-cache", "-o", "d.json")
    assert result.exit_code == 0, result.output
    tests = {t["name"]: t for t in gate_doc(tmp_path)["tests"]}  # type: ignore[attr-defined]
    assert not tests["pass^2"]["regression"]
    assert "pass^2 50% -> 17%" in result.stdout and "not a significant drop" in result.stdout


@pytest.mark.parametrize(("gate", "says"), [
    ('{"pass_k": 0.9}', "unknown key 'pass_k' in gate"),
    ('{pass^k: 1.5}', "gate.pass^k: Input should be less than or equal to 1"),
    ('{pass@k: -0.1}', "gate.pass@k: Input should be greater than or equal to 0"),
    ("{k: 3}", "a gate needs 'pass^k' and/or 'pass@k'"),
    ("{pass^k: 0.9, k: 0}", "gate.k: Input should be greater than or equal to 1"),
    ("0.9", "gate: expected a mapping"),
])
def test_a_bad_gate_is_exit_2_at_its_line(make_project, scripted, cli, gate, says):
    project(make_project, 1, 2, f"gate: {gate}\n")
    result = cli("run", "--no-cache")
    assert result.exit_code == 2
    assert "suites/s.yaml:4" in result.stderr and says in result.stderr

"""Perturbed variants in `run`, `check` and `baseline update` through the real CLI:
variants are cells like any other (baselined, gated), `--no-perturb` leaves them out
(recorded in meta.json, refused as a conflicting flag on --resume, kept out of a
baseline's rewrite). The echo model returns the rendered prompt."""

from __future__ import annotations

import json
from pathlib import Path

from promptctl.errors import ExitCode

FILES = {
    "prompts/p.yaml": """
        prompts:
          t: {template: "T={{ ticket }} N={{ name }}"}
        """,
    "suites/s.yaml": """
        prompts: [p.t]
        models: [echo]
        perturb:
          - {type: case, mode: upper, id: up, vars: [ticket]}
          - whitespace
        defaults:
          assert: [{type: contains, value: "N={{ name }}"}]
        cases:
          - {id: a, vars: {ticket: "card charged twice", name: Alice}}
          - {id: b, vars: {ticket: "where is my parcel", name: Bob}}
        """,
}
ALL = ["a", "a~up", "a~whitespace", "b", "b~up", "b~whitespace"]


def baseline(root: Path) -> dict:
    return json.loads((root / "baselines/s.json").read_text())["cases"]


def ran(root: Path) -> list[str]:
    run_dir = (root / ".promptctl/runs/latest").read_text().strip()
    lines = (root / ".promptctl/runs" / run_dir / "records.jsonl").read_text().splitlines()
    return [json.loads(line)["case"] for line in lines]


def test_run_includes_variants_and_no_perturb_leaves_them_out(make_project, cli):
    root = make_project(FILES)
    result = cli("run", "-q")
    assert result.exit_code == 0, result.output
    assert "6 cases: 6 passed" in result.output
    assert sorted(ran(root)) == sorted(ALL)
    result = cli("run", "-q", "--no-perturb")
    assert result.exit_code == 0, result.output
    assert "2 cases: 2 passed" in result.output
    assert ran(root) == ["a", "b"]
    latest = (root / ".promptctl/runs/latest").read_text().strip()
    meta = json.loads((root / ".promptctl/runs" / latest / "meta.json").read_text())
    assert meta["options"]["perturb"] is False
    # resuming it with the variants back would be another plan
    result = cli("run", "--resume")
    assert result.exit_code == 0, result.output
    assert ran(root) == ["a", "b"]


def test_resume_refuses_no_perturb_on_a_run_with_variants(make_project, cli):
    make_project(FILES)
    assert cli("run", "-q").exit_code == 0
    result = cli("run", "--resume", "--no-perturb")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "--no-perturb conflicts with run" in result.output


def test_variants_are_baselined_and_gated_like_any_cell(make_project, cli):
    root = make_project(FILES)
    result = cli("baseline", "update", "-q")
    assert result.exit_code == 0, result.output
    assert sorted(baseline(root)) == sorted(ALL)
    assert cli("check", "-q").exit_code == 0
    # the perturbation now hits the name: the clean expectation (N=Alice) fails on the
    # variant only, and check names that variant's regression
    suite = root / "suites/s.yaml"
    suite.write_text(suite.read_text().replace("vars: [ticket]", "vars: [ticket, name]"))
    result = cli("check")
    assert result.exit_code == ExitCode.FAILED, result.output
    assert "a~up" in result.output and "b~up" in result.output
    assert "2 broken, 4 unchanged" in result.output
    # --no-perturb: only the clean cells are checked; the variants were not run, which
    # is not a removal
    result = cli("check", "--no-perturb")
    assert result.exit_code == 0, result.output
    assert "removed" not in result.output


def test_baseline_update_no_perturb_keeps_the_variants_entries(make_project, cli):
    root = make_project(FILES)
    assert cli("baseline", "update", "-q").exit_code == 0
    before = baseline(root)
    suite = root / "suites/s.yaml"
    suite.write_text(suite.read_text().replace("Alice", "Alicia").replace(
        "N={{ name }}", "N="))
    result = cli("baseline", "update", "-q", "--no-perturb")
    assert result.exit_code == 0, result.output
    after = baseline(root)
    assert sorted(after) == sorted(ALL)
    for variant in ("a~up", "a~whitespace", "b~up", "b~whitespace"):
        assert after[variant] == before[variant]  # not run: kept as it was
    assert after["a"] != before["a"]  # run again: Alicia


def test_help_lists_no_perturb(cli):
    for command in (["run"], ["check"], ["baseline", "update"]):
        result = cli(*command, "--help")
        assert "--no-perturb" in result.stdout, command

"""The repo's own prompts, suites and baselines: the README's main job and the CI gate,
on the embedded model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import run_subprocess

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's prompts/, suites/, baselines/ and reviews/ in a scratch dir: an empty
    cache."""
    work = tmp_path_factory.mktemp("dogfood")
    for name in ("prompts", "suites", "baselines", "reviews"):
        shutil.copytree(ROOT / name, work / name)
    if (ROOT / "promptctl.yaml").exists():
        shutil.copy(ROOT / "promptctl.yaml", work / "promptctl.yaml")
    return work


def baseline_failing() -> int:
    """Cells the committed baselines record as failing. The summarize suite keeps some on
    purpose: its outputs are labelled in reviews/ to calibrate the judge, which needs bad
    summaries as well as good ones."""
    failing = 0
    for path in (ROOT / "baselines").glob("*.json"):
        for prompts in json.loads(path.read_text())["cases"].values():
            for models in prompts.values():
                failing += sum(not cell["passed"] for cell in models.values())
    return failing


def test_repo_lints_clean():
    result = run_subprocess("lint", cwd=ROOT)
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_repo_suites_pass_on_the_embedded_model_then_come_from_the_cache(repo_copy):
    failing = baseline_failing()
    first = run_subprocess("run", "-o", "first.json", cwd=repo_copy)
    assert first.exit_code == (1 if failing else 0), first.output
    # the model is freed at exit, not by a __del__ in a half torn-down interpreter
    assert "Traceback" not in first.stderr and "Exception ignored" not in first.stderr, \
        first.stderr
    doc = json.loads((repo_copy / "first.json").read_text())
    suites = {r["suite"] for r in doc["results"]}
    assert {"triage", "extract", "qa", "summarize"} <= suites
    # the cases that fail are the ones the baselines say fail, no more
    assert doc["summary"]["failed"] == failing and doc["summary"]["errors"] == 0
    # one request is asked twice in the run: the conversation's first turn asks what
    # tools.yaml's time-tokyo asks (same messages and tools), so the later one is a hit
    twice = {("tools", "time-tokyo"), ("conversation", "trip")}
    assert not any(r["cached"] for r in doc["results"] if (r["suite"], r["case"]) not in twice)
    assert all(r["tokens"]["completion"] > 0 for r in doc["results"])

    second = run_subprocess("run", "-o", "second.json", cwd=repo_copy)
    assert second.exit_code == first.exit_code, second.output
    again = json.loads((repo_copy / "second.json").read_text())
    assert all(r["cached"] for r in again["results"])
    assert [r["output"] for r in again["results"]] == [r["output"] for r in doc["results"]]


@pytest.mark.slow
def test_repo_check_is_green_against_the_committed_baselines(repo_copy):
    """What CI runs. At temperature 0 the outputs are reproducible: even --strict holds."""
    result = run_subprocess("check", "--strict", "-o", "diff.json", cwd=repo_copy)
    assert result.exit_code == 0, result.output
    doc = json.loads((repo_copy / "diff.json").read_text())
    assert doc["verdict"] == "pass"
    total = sum(len(s["cases"]) for s in doc["suites"])
    failing = baseline_failing()
    expected = {"unchanged": total - failing, "failing": failing} if failing else \
        {"unchanged": total}
    assert doc["counts"] == expected
    # the hand labels of reviews/summarize.yaml meet the outputs they were given on
    labels = [c["label"] for s in doc["suites"] if s["suite"] == "summarize"
              for c in s["cases"] if "label" in c]
    assert len(labels) == 20 and {lab["state"] for lab in labels} == {"labelled"}


def test_repo_history_over_its_baseline_commits_passes_the_drift_gate(tmp_path):
    """What CI runs after the check: the repo's baselines in git, one point per commit
    that changed one, with no significant decline. A checkout without git history (an
    unpacked archive) cannot have one, so the test needs the repository."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = run_subprocess("history", "--git", "--gate", "-o", str(tmp_path / "h.json"),
                            cwd=ROOT)
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "h.json").read_text())
    assert doc["source"] == "git" and not doc["gate"]["failed"]
    suites = {s["suite"] for s in doc["suites"]}
    assert suites == {p.stem for p in (ROOT / "baselines").glob("*.json")}
    assert all(s["points"] and "commit" in s["points"][0] for s in doc["suites"])

"""The regression gate end to end on the embedded model, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import run_subprocess, write_files

pytestmark = pytest.mark.slow

PROMPTS = """
prompts:
  capital:
    params: {max_tokens: 12}
    template: "What is the capital of {{ country }}? Answer in one word."
"""
SUITE = """
prompts: [geo.capital]
cases:
  - id: france
    vars: {country: France}
    assert: [{type: icontains, value: paris}]
  - id: italy
    vars: {country: Italy}
    assert: [{type: icontains, value: rome}]
"""


@pytest.fixture
def geo(tmp_path):
    write_files(tmp_path, {"prompts/geo.yaml": PROMPTS, "suites/geo.yaml": SUITE})
    return tmp_path


def test_update_check_break_revert_and_fingerprints(geo):
    assert run_subprocess("baseline", "update", cwd=geo).exit_code == 0
    baseline = json.loads((geo / "baselines/geo.json").read_text())
    assert "Paris" in baseline["cases"]["france"]["geo.capital"]["default"]["samples"][0][
        "output"]
    assert run_subprocess("check", cwd=geo).exit_code == 0

    # a prompt edit that breaks a case: exit 1, the case named, its new output shown
    (geo / "prompts/geo.yaml").write_text(PROMPTS.replace(
        "Answer in one word.", "Reply with a short poem about rivers, not the city."))
    broken = run_subprocess("check", "-o", "diff.md", "-o", "diff.json", cwd=geo)
    assert broken.exit_code == 1, broken.output
    assert "BROKEN" in broken.stdout and "REGRESSED" in broken.stdout
    doc = json.loads((geo / "diff.json").read_text())
    cases = {c["case"]: c for c in doc["suites"][0]["cases"]}
    assert any(c["status"] == "broken" for c in cases.values())
    bad = next(c for c in cases.values() if c["status"] == "broken")
    assert bad["after"]["outputs"][0] != bad["before"]["outputs"][0]
    assert bad["after"]["outputs"][0].split()[0] in (geo / "diff.md").read_text()
    assert "prompt edited (rendered messages differ)" in bad["fingerprint"]

    # revert: green again (and served from the cache)
    (geo / "prompts/geo.yaml").write_text(PROMPTS)
    assert run_subprocess("check", cwd=geo).exit_code == 0

    # a param change is a fingerprint change, reported even when outputs hold
    write_files(geo, {"promptctl.yaml": """
        models:
          default: {provider: llama-cpp, model: "builtin:smollm2",
                    params: {temperature: 0, seed: 0, top_k: 1}}
        """})
    changed = run_subprocess("check", "-o", "fp.json", cwd=geo)
    assert changed.exit_code == 0, changed.output
    fp = json.loads((geo / "fp.json").read_text())
    assert all("param top_k: unset -> 1" in c["fingerprint"]
               for c in fp["suites"][0]["cases"])
    assert "every case: param top_k: unset -> 1" in changed.stdout

    # another model: its cells are new, and the baseline's cells were not run
    swapped = run_subprocess("check", "-m", "echo", "-o", "sw.json", cwd=geo)
    sw = json.loads((geo / "sw.json").read_text())
    assert {c["status"] for c in sw["suites"][0]["cases"]} == {"new"}
    assert sw["suites"][0]["not_run"] == 2
    assert swapped.exit_code == 0


def test_a_killed_baseline_update_leaves_the_old_baseline_intact(geo):
    assert run_subprocess("baseline", "update", cwd=geo).exit_code == 0
    path = geo / "baselines/geo.json"
    before = path.read_bytes()
    (geo / "prompts/geo.yaml").write_text(PROMPTS.replace("one word", "one short sentence"))
    proc = subprocess.Popen([sys.executable, "-m", "promptctl", "baseline", "update",
                             "--no-cache"], cwd=geo, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ})
    runs = geo / ".promptctl/runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until the update is midway: calls done
        latest = runs / "latest"
        if latest.exists():
            rec = runs / latest.read_text().strip() / "records.jsonl"
            if rec.exists() and rec.read_text().count("\n") >= 1:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert path.read_bytes() == before
    assert json.loads(before)["suite"] == "geo"


def test_killing_during_the_write_never_leaves_half_a_file(tmp_path):
    """A big baseline (echo provider) killed at many points: the file is always the
    old or the new complete document."""
    rows = "\n".join(f"c{i},{'x' * 200} {i}" for i in range(3000))
    write_files(tmp_path, {
        "prompts/p.yaml": "prompts:\n  q: {template: '{{ q }}'}\n",
        "suites/big.yaml": "prompts: [p.q]\nmodels: [echo]\ncases:\n  - from: data/big.csv\n"
                           "    assert: [{type: contains, value: x}]\n",
        "suites/data/big.csv": "id,q\n" + rows + "\n",
    })
    assert run_subprocess("baseline", "update", cwd=tmp_path).exit_code == 0
    path = tmp_path / "baselines/big.json"
    old = path.read_bytes()
    new_rows = "\n".join(f"{row} changed" for row in rows.splitlines())
    (tmp_path / "suites/data/big.csv").write_text("id,q\n" + new_rows + "\n")
    outcomes = set()
    for delay in (0.3, 0.5, 0.7, 0.9, 1.1, 1.4):
        proc = subprocess.Popen([sys.executable, "-m", "promptctl", "baseline", "update"],
                                cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        data = path.read_bytes()
        json.loads(data)  # always a complete document
        outcomes.add("old" if data == old else "new")
    assert outcomes <= {"old", "new"}

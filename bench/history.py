"""How long does `promptctl history` take over many saved runs?

Makes a project in a work directory with two suites of CASES cases each on the `echo`
model, runs it once for real (`promptctl run`), then copies that run folder RUNS times
with later start times (and a pass/fail pattern that slides, so the drift test has work
to do), and times, through the real CLI in a subprocess:

- `history` over every run (every records.jsonl read, streamed one run at a time),
- `history SUITE --last 20` (named suites with --last stop reading early),
- the Markdown diff with its sparkline line (`diff -o x.md`, the last 20 runs).

Usage: python bench/history.py [--runs 300] [--cases 50] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def project(workdir: Path, cases: int) -> None:
    (workdir / "prompts").mkdir(parents=True, exist_ok=True)
    (workdir / "suites").mkdir(exist_ok=True)
    (workdir / "prompts" / "p.yaml").write_text(
        'prompts:\n  echo: {template: "Ticket: {{ ticket }}"}\n')
    for suite in ("alpha", "beta"):
        rows = "".join(f"  - {{id: c{i}, vars: {{ticket: 'word{i} here'}}, assert: "
                       f"[{{type: contains, value: word{i}, metric: found}}]}}\n"
                       for i in range(cases))
        (workdir / "suites" / f"{suite}.yaml").write_text(
            f"prompts: [p.echo]\nmodels: [echo]\ncases:\n{rows}")


def cli(workdir: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "promptctl", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done


def copies(workdir: Path, runs: int) -> None:
    """RUNS copies of the one real run, an hour apart; from the middle on, a slowly
    growing share of cases fails (their records say so: passed false)."""
    base = workdir / ".promptctl" / "runs"
    first = next(p for p in base.iterdir() if p.is_dir() and not p.is_symlink())
    records = (first / "records.jsonl").read_text().splitlines()
    meta = json.loads((first / "meta.json").read_text())
    summary = json.loads((first / "summary.json").read_text())
    for i in range(runs):
        run_id = f"2026{1 + i // 720:02d}{1 + i // 24 % 30:02d}T{i % 24:02d}0000-{i:06x}"
        started = f"2026-{1 + i // 720:02d}-{1 + i // 24 % 30:02d}T{i % 24:02d}:00:00+00:00"
        folder = base / run_id
        folder.mkdir()
        failing = max(0, (i - runs // 2) * 10 // runs)  # cases failing from the middle on
        lines = []
        for n, line in enumerate(records):
            rec = json.loads(line)
            if n % 50 < failing:
                rec["passed"] = False
                rec["assertions"][0]["passed"] = False
            lines.append(json.dumps(rec))
        (folder / "records.jsonl").write_text("\n".join(lines) + "\n")
        (folder / "meta.json").write_text(json.dumps({**meta, "run_id": run_id,
                                                      "started": started}))
        (folder / "summary.json").write_text(json.dumps({**summary, "run_id": run_id,
                                                         "started": started}))
    shutil.rmtree(first)
    (base / "latest").write_text(run_id + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="promptctl-history-bench-"))
    shutil.rmtree(workdir / ".promptctl", ignore_errors=True)
    project(workdir, args.cases)
    _, done = cli(workdir, "run", "-q")
    assert done.returncode == 0, done.stderr
    copies(workdir, args.runs)
    size = sum(f.stat().st_size for f in (workdir / ".promptctl" / "runs").rglob("*.jsonl"))
    print(f"{args.runs} runs x 2 suites x {args.cases} cases "
          f"({size / 1e6:.1f} MB of records) in {workdir}")
    for what, argv in (("history (every run)", ["history", "-o", "h.json"]),
                       ("history alpha --last 20", ["history", "alpha", "--last", "20"]),
                       ("history --gate", ["history", "--gate", "-q"]),
                       ("diff -o x.md (sparkline: last 20)", ["diff", "-o", "x.md"])):
        best = min(cli(workdir, *argv)[0] for _ in range(3))
        print(f"{what:36s} {best:6.2f} s (best of 3)")
    _, gated = cli(workdir, "history", "--gate", "-q")
    print(f"history --gate: exit {gated.returncode}: {gated.stdout.strip()[:200]}")
    md = (workdir / "x.md").read_text() if (workdir / "x.md").exists() else ""
    print("\n".join(line for line in md.splitlines() if "History (last" in line))


if __name__ == "__main__":
    main()

"""How fast is `promptctl lint` (the pre-commit hook)? On this repo, and on a generated
project of 200 prompt collections and 200 suites. Prints the median wall time of the
whole command (python start-up included) over several runs.

Usage: python bench/lint.py [--runs K]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_large(root: Path, n: int = 200) -> None:
    (root / "prompts").mkdir()
    (root / "suites").mkdir()
    for i in range(n):
        (root / "prompts" / f"c{i}.yaml").write_text(f"""\
description: collection {i}
prompts:
  triage:
    params: {{max_tokens: 8}}
    vars: {{teams: [billing, shipping, technical]}}
    messages:
      - {{role: system, content: "Route to one of {{{{ teams | join(', ') }}}}."}}
      - {{role: user, content: "Ticket {i}: {{{{ ticket }}}}"}}
  summary:
    template: "Summarise in one sentence: {{{{ text }}}}"
""")
        cases = "".join(f"""\
  - id: case-{j}
    vars: {{ticket: "ticket {j}"}}
    assert:
      - {{type: icontains, value: billing}}
      - {{type: regex, value: "(?i)^(billing|shipping|technical)$"}}
""" for j in range(10))
        (root / "suites" / f"s{i}.yaml").write_text(
            f"prompts: [c{i}.triage]\ndefaults:\n  assert: [{{type: length, max_words: 3}}]\n"
            f"cases:\n{cases}")


def timed(cwd: Path, runs: int) -> tuple[float, str]:
    walls = []
    out = ""
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "promptctl", "lint"], cwd=cwd,
                              capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        out = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        if proc.returncode not in (0, 1):
            raise SystemExit(f"lint exited {proc.returncode}: {proc.stderr}")
    return statistics.median(walls), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    repo, line = timed(ROOT, args.runs)
    print(f"this repo:            {repo:.3f} s  ({line})")
    with tempfile.TemporaryDirectory() as tmp:
        make_large(Path(tmp))
        large, line = timed(Path(tmp), args.runs)
    print(f"200 prompts x 200 suites (2,000 cases): {large:.3f} s  ({line})")
    print("targets: under 0.3 s for the repo, under 2 s for the large project")


if __name__ == "__main__":
    main()

"""Overhead of promptctl itself: the echo provider, N cases, 2 assertions each, no cache.

Runs `promptctl run` as a subprocess on a generated project and prints wall time and
peak memory (max RSS of the child). Usage: python bench/overhead.py [--cases N] [--runs K]
[--python-check] (a third assertion per case: a trivial `python` check, which runs in a
worker process: the difference with and without it is that round trip's cost)
[--inline] (the cases written in the suite's YAML instead of a CSV data file: the YAML
loader's cost).

Python's bytecode goes to a private PYTHONPYCACHEPREFIX in a temporary folder (written even
when PYTHONDONTWRITEBYTECODE is set, and never into the repo), as bench/startup.py and
bench/vs_promptfoo.py do, and one untimed run on a one-case project fills it first: the
timed runs load cached bytecode as an installed promptctl does after its first run.
PYTHONPATH is passed on: PYTHONPATH=. times the checkout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROMPTS = """\
prompts:
  triage:
    params: {max_tokens: 8}
    vars: {teams: [billing, shipping, technical]}
    messages:
      - role: system
        content: You route support tickets. Answer with one word from {{ teams | join(", ") }}.
      - role: user
        content: "Ticket: {{ ticket }}"
"""

SUITE_HEAD = """\
prompts: [support.triage]
models: [echo]
defaults:
  assert:
    - {type: icontains, value: ticket}
    - {type: length, max_words: 60}
cases:
  - from: data/tickets.csv
"""


PYTHON_CHECK = "    - {type: python, value: 'checks:mentions_order'}\n"
CHECKS = "def mentions_order(output, ctx):\n    return 'order' in output\n"


def make_project(root: Path, cases: int, python_check: bool = False,
                 inline: bool = False) -> None:
    """The project; with `inline`, the cases are written in the suite file (YAML) rather
    than in its CSV data file: the same cases, read by the YAML loader."""
    (root / "prompts").mkdir()
    (root / "suites" / "data").mkdir(parents=True)
    (root / "prompts" / "support.yaml").write_text(PROMPTS)
    suite = SUITE_HEAD
    if python_check:
        suite = suite.replace("cases:\n", PYTHON_CHECK + "cases:\n")
        (root / "checks.py").write_text(CHECKS)
    tickets = [(f"case-{i}", f"I was charged twice for order {i}") for i in range(cases)]
    if inline:
        suite = suite.replace("  - from: data/tickets.csv\n", "".join(
            f"  - id: {case}\n    vars: {{ticket: {ticket}}}\n" for case, ticket in tickets))
    (root / "suites" / "overhead.yaml").write_text(suite)
    rows = ["id,ticket"] + [f"{case},{ticket}" for case, ticket in tickets]
    (root / "suites" / "data" / "tickets.csv").write_text("\n".join(rows) + "\n")


def run_once(root: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and the child's peak RSS in MiB."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child: exec promptctl so ru_maxrss measures it alone
        os.chdir(root)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execve(sys.executable, [sys.executable, "-m", "promptctl", "run", "--no-cache",
                                   "-q"], env)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"promptctl run exited {code}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python-check", action="store_true")
    parser.add_argument("--inline", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="overhead-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        warm, root = work / "warm-up", work / "project"
        warm.mkdir()
        root.mkdir()
        make_project(warm, 1, args.python_check)
        run_once(warm, env)  # untimed: writes the bytecode of every module a run imports
        make_project(root, args.cases, args.python_check, args.inline)
        results = [run_once(root, env) for _ in range(args.runs)]
    walls = [w for w, _ in results]
    peak = max(m for _, m in results)
    what = "3 assertions (one a python check)" if args.python_check else "2 assertions"
    where = "in the suite's YAML" if args.inline else "from a CSV file"
    print(f"cases: {args.cases} x {what} ({where}), echo provider, --no-cache, "
          f"{args.runs} runs")
    print(f"wall time: median {statistics.median(walls):.3f} s "
          f"(min {min(walls):.3f}, max {max(walls):.3f})")
    print(f"peak memory (max RSS): {peak:.1f} MiB")


if __name__ == "__main__":
    main()

"""Start-up time of the CLI: `python -m promptctl --help` and `python -m promptctl lint`,
run at the root of the repo that holds this bench/ folder, with this interpreter.

Each command runs once untimed, then K times; the wall time of each run (spawn to exit,
python's own start included) gives the median and the minimum, against the target of
0.15 s. Python's bytecode goes to a private PYTHONPYCACHEPREFIX in a temporary folder
(written even when PYTHONDONTWRITEBYTECODE is set, and never into the repo), so the timed
runs load cached bytecode as an installed promptctl does after its first run. A run
that exits non-zero (lint finding problems, say) stops the script: its time would not
be promptctl's start-up. PYTHONPATH is passed on: PYTHONPATH=. times the checkout.
`python -c pass` is timed the same way, as the floor that this interpreter, its site
module and the .pth files of its site-packages set on this machine.

With --importtime, also prints the 10 imports with the largest cumulative time in
`python -X importtime -m promptctl --help` (a package's cumulative time includes the
imports it triggers, so the list nests).

Usage: python bench/startup.py [--runs 10] [--importtime]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.15  # seconds
COMMANDS = {"--help": ["-m", "promptctl", "--help"], "lint": ["-m", "promptctl", "lint"]}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit(f"python {' '.join(args)} exited {proc.returncode} in {ROOT}:\n"
                         f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc


def timed(args: list[str], env: dict[str, str], runs: int) -> list[float]:
    run(args, env)  # untimed: writes the bytecode
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        run(args, env)
        walls.append(time.perf_counter() - start)
    return walls


def importtime(env: dict[str, str], top: int = 10) -> None:
    """Prints the `top` imports by cumulative time from -X importtime's report."""
    proc = run(["-X", "importtime", "-m", "promptctl", "--help"], env)
    rows = []
    for line in proc.stderr.splitlines():  # "import time: self [us] | cumulative | name"
        if not line.startswith("import time:") or "[us]" in line:
            continue
        own, cumulative, name = line[len("import time:"):].split("|", 2)
        rows.append((int(cumulative), int(own), name.rstrip()))
    if not rows:
        raise SystemExit("python -X importtime printed no import times")
    rows.sort(key=lambda row: row[0], reverse=True)
    print(f"\ntop {top} imports by cumulative time (python -X importtime -m promptctl --help):")
    print(f"  {'cumulative':>10}  {'self':>8}  module (indented as nested)")
    for cumulative_us, self_us, name in rows[:top]:
        print(f"  {cumulative_us / 1000:8.1f} ms  {self_us / 1000:5.1f} ms  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--importtime", action="store_true",
                        help="also print the top 10 imports by cumulative time")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs takes a positive number")
    with tempfile.TemporaryDirectory(prefix="startup-pycache-") as pycache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPYCACHEPREFIX=pycache, COLUMNS="100")
        print(f"python {sys.version.split()[0]} ({sys.executable}), in {ROOT}, "
              f"{args.runs} runs each after 1 untimed")
        for label, command in COMMANDS.items():
            walls = timed(command, env, args.runs)
            median = statistics.median(walls)
            verdict = "met" if median < TARGET else "NOT met"
            print(f"{'promptctl ' + label:<16}  median {median:.3f} s  min {min(walls):.3f} s  "
                  f"(target < {TARGET} s: {verdict})", flush=True)
        floor = timed(["-c", "pass"], env, args.runs)
        print(f"{'python -c pass':<16}  median {statistics.median(floor):.3f} s  min "
              f"{min(floor):.3f} s  (the interpreter and site alone: no command is faster)")
        if args.importtime:
            importtime(env)


if __name__ == "__main__":
    main()

"""Start-up time of the CLI: `python -m promptctl --help` and `python -m promptctl lint`,
run at the root of a repo (--repo, default the one that holds this bench/ folder), with
this interpreter. The untimed first lint stores its result in the lint cache (in a
temporary XDG_CACHE_HOME), so the timed ones are answered from it, as a pre-commit hook
is on a commit that leaves the inputs alone; `lint --no-cache` is timed beside it (no
target: the whole lint).

Each command runs once untimed, then K times; the wall time of each run (spawn to exit,
python's own start included) gives the median and the minimum, against the target of
0.15 s. The CPU time (user + system of the child) is printed beside it: on a shared,
loaded machine the wall time waits for a core, the CPU time much less so. Python's
bytecode goes to a private PYTHONPYCACHEPREFIX in a temporary folder
(written even when PYTHONDONTWRITEBYTECODE is set, and never into the repo), so the timed
runs load cached bytecode as an installed promptctl does after its first run. A run
that exits non-zero (lint finding problems, say) stops the script: its time would not
be promptctl's start-up. PYTHONPATH is passed on: PYTHONPATH=. times the checkout;
the file of the promptctl that the runs import is printed first, so a timing of the
wrong tree shows. To time another checkout (an older commit, say), run this script with
PYTHONPATH=/that/checkout and --repo /that/checkout: lint then checks that tree's files.
`python -c pass` is timed the same way, as the floor that this interpreter, its site
module and the .pth files of its site-packages set on this machine.

With --importtime, also prints the 10 imports with the largest cumulative time in
`python -X importtime -m promptctl --help` (a package's cumulative time includes the
imports it triggers, so the list nests).

Usage: python bench/startup.py [--runs 10] [--importtime] [--repo DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
TARGET = 0.15  # seconds
COMMANDS = {"--help": ["-m", "promptctl", "--help"], "lint": ["-m", "promptctl", "lint"],
            "lint --no-cache": ["-m", "promptctl", "lint", "--no-cache"]}
NO_TARGET = {"lint --no-cache"}


def run(args: list[str], env: dict[str, str], root: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit(f"python {' '.join(args)} exited {proc.returncode} in {root}:\n"
                         f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], env: dict[str, str], root: Path, runs: int
          ) -> tuple[list[float], list[float]]:
    """The wall times and the CPU times of `runs` runs, after one untimed."""
    run(args, env, root)  # untimed: writes the bytecode
    walls, cpus = [], []
    for _ in range(runs):
        cpu = children_cpu()
        start = time.perf_counter()
        run(args, env, root)
        walls.append(time.perf_counter() - start)
        cpus.append(children_cpu() - cpu)
    return walls, cpus


def line(label: str, walls: list[float], cpus: list[float], note: str) -> str:
    return (f"{label:<26}  median {statistics.median(walls):.3f} s  min {min(walls):.3f} s"
            f"  (cpu median {statistics.median(cpus):.3f} s, min {min(cpus):.3f} s)  {note}")


def importtime(env: dict[str, str], root: Path, top: int = 10) -> None:
    """Prints the `top` imports by cumulative time from -X importtime's report."""
    proc = run(["-X", "importtime", "-m", "promptctl", "--help"], env, root)
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
    parser.add_argument("--repo", type=Path, default=HERE,
                        help="where the commands run (lint checks its files); default: "
                        "the repo of this script")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs takes a positive number")
    root = args.repo.resolve()
    with tempfile.TemporaryDirectory(prefix="startup-pycache-") as pycache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPYCACHEPREFIX=pycache, COLUMNS="100",
                   XDG_CACHE_HOME=str(Path(pycache) / "user-cache"))
        if env.get("PYTHONPATH"):  # relative to here, not to where the commands run
            env["PYTHONPATH"] = os.pathsep.join(
                str(Path(p).resolve()) for p in env["PYTHONPATH"].split(os.pathsep) if p)
        # what `python -m promptctl` imports: __main__ drops the working directory from
        # the path, so this asks from a neutral directory with the same environment
        imported = run(["-c", "import promptctl; print(promptctl.__file__)"], env,
                       Path(pycache)).stdout.strip()
        print(f"python {sys.version.split()[0]} ({sys.executable}), in {root}, "
              f"{args.runs} runs each after 1 untimed; promptctl from {imported}; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for label, command in COMMANDS.items():
            walls, cpus = timed(command, env, root, args.runs)
            verdict = "met" if statistics.median(walls) < TARGET else "NOT met"
            note = "(the whole lint, no cache)" if label in NO_TARGET else \
                f"(target < {TARGET} s: {verdict})"
            print(line("promptctl " + label, walls, cpus, note), flush=True)
        walls, cpus = timed(["-c", "pass"], env, root, args.runs)
        print(line("python -c pass", walls, cpus,
                   "(the interpreter and site alone: no command is faster)"))
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.importtime:
            importtime(env, root)


if __name__ == "__main__":
    main()

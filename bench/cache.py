"""Cold run vs cached run of the repo's own suites on the embedded model.

Prints the wall time of `promptctl run` with an empty cache, then again served from
the cache, and the speed-up. Usage: python bench/cache.py [PROJECT_DIR]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed_run(cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "promptctl", "run", "-q"], cwd=cwd,
                          capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "1000"})  # one summary line
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"promptctl run exited {proc.returncode}:\n{proc.stdout}"
                         f"{proc.stderr}")
    print("  " + proc.stdout.strip().splitlines()[-1])
    return wall


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("prompts", "suites", "promptctl.yaml"):
            src = source / name
            if src.is_dir():
                shutil.copytree(src, work / name)
            elif src.is_file():
                shutil.copy(src, work / name)
        print("cold (empty cache):")
        cold = timed_run(work)
        print("warm (served from the cache):")
        warm = timed_run(work)
    print(f"cold {cold:.2f} s, cached {warm:.2f} s, speed-up {cold / warm:.1f}x")


if __name__ == "__main__":
    main()

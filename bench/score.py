"""`promptctl score` on a large generated log: lines per second and peak memory.

Writes a project (a suite of cheap checks: contains, not-contains, regex, length,
not-is-refusal, one templated on the line's vars, one with a metric) and a JSONL log
of --size bytes (default 200M; 1G for a gigabyte) spread over --days days, whose
outputs degrade in the second half, then runs `promptctl score LOG --suite s --by day
--sample 0 -q` in a subprocess, twice: on a small log (--small, default 2M) and on the
large one. Prints lines, seconds, lines/s, MB/s and the peak RSS of each: streaming
means the peak stays about the same however large the log is. Embeddings are off
(--sample 0): they cost per window, not per line (at most windows x sample texts).

Usage: python bench/score.py [--size 200M] [--small 2M] [--days 30] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = """
prompts: [p.ask]
models: [echo]
defaults:
  vars: {lang: en}
  assert:
    - {type: not-contains, value: "Traceback"}
    - {type: icontains, value: "{{ city }}", metric: named}
    - {type: regex, value: "^[A-Z]"}
    - {type: length, max_chars: 400}
    - {type: not-is-refusal}
cases:
  - {id: fr, vars: {country: France, city: Paris}}
"""
CITIES = [("France", "Paris"), ("Italy", "Rome"), ("Peru", "Lima"), ("Japan", "Tokyo"),
          ("Kenya", "Nairobi"), ("Chile", "Santiago"), ("Spain", "Madrid")]


def size_of(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def write_log(path: Path, size: int, days: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    start = 1793620800  # 2026-11-02 00:00 UTC
    written = lines = 0
    per_day = None
    with path.open("w", encoding="utf-8") as fh:
        while written < size:
            country, city = CITIES[lines % len(CITIES)]
            if per_day is None:
                per_day = max(1, size // 260 // days)  # ~260 bytes a line
            day = min(days - 1, lines // per_day)
            bad = rng.random() < (0.05 if day < days // 2 else 0.15)
            out = (f"I'm sorry, I can't help with {country}." if bad else
                   f"The capital of {country} is {city}. " + "It is a fine city. " *
                   rng.randint(1, 6))
            row = {"vars": {"country": country, "city": city,
                            "question": f"What is the capital of {country}?"},
                   "output": out, "timestamp": start + day * 86400 + lines % 86400,
                   "model": "gpt-4o-mini-2024-07-18", "latency_ms": rng.randint(200, 900)}
            text = json.dumps(row) + "\n"
            fh.write(text)
            written += len(text)
            lines += 1
    return lines


def score(work: Path, log: Path) -> tuple[float, int, str]:
    """(seconds, peak RSS in KiB of the child, its output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "promptctl", "score", str(log), "--suite",
                           "s", "--by", "day", "--sample", "0", "-q"], cwd=work,
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"promptctl score exited {proc.returncode}:\n{proc.stdout}"
                         f"{proc.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of the children is the largest child so far: the large run goes last
    return wall, max(peak, before), proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="200M")
    ap.add_argument("--small", default="2M")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--keep", type=Path, default=None, help="write the project here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        (work / "prompts").mkdir(parents=True, exist_ok=True)
        (work / "suites").mkdir(exist_ok=True)
        (work / "prompts/p.yaml").write_text(
            "prompts:\n  ask: {template: 'What is the capital of {{ country }}?'}\n")
        (work / "suites/s.yaml").write_text(SUITE)
        for label, size in (("small", size_of(args.small)), ("large", size_of(args.size))):
            log = work / f"{label}.jsonl"
            t0 = time.perf_counter()
            lines = write_log(log, size, args.days)
            mb = log.stat().st_size / (1 << 20)
            print(f"{label}: wrote {lines:,} lines ({mb:,.1f} MB) in "
                  f"{time.perf_counter() - t0:.1f} s")
            wall, peak, out = score(work, log)
            print("  " + out.strip().replace("\n", "\n  "))
            print(f"  {label}: {lines:,} lines in {wall:.1f} s: {lines / wall:,.0f} lines/s, "
                  f"{mb / wall:.1f} MB/s, peak RSS {peak / 1024:.0f} MB")
            if args.keep is None:
                log.unlink()


if __name__ == "__main__":
    main()

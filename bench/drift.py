"""Is the drift verdict trustworthy? False alarms on simulated stable histories and
power on simulated declines, for promptctl.drift.rate_drift at alpha 0.05.

A simulated history: `cases` cases shared by every point (their logits spread around
the point's pass rate by a normal of sd SPREAD: some cases are hard, some easy), one
sample per case per point. "Overdispersed" adds a point-level logit shock of sd SHOCK
(a day when the hosted model is better or worse): a point's pass rate then wobbles
more than binomial, which is what breaks tests that pool every sample as independent.

Usage: python bench/drift.py [--sims N] [--seed S]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from promptctl.drift import rate_drift  # noqa: E402

ALPHA = 0.05
SPREAD = 1.0
SHOCK = 0.5


def history(rng: random.Random, rates: list[float], cases: int,
            shock: float) -> list[tuple[int, int]]:
    offsets = [rng.gauss(0, SPREAD) for _ in range(cases)]
    out = []
    for rate in rates:
        logit = math.log(rate / (1 - rate)) + rng.gauss(0, shock)
        out.append((sum(rng.random() < 1 / (1 + math.exp(-(logit + o))) for o in offsets),
                    cases))
    return out


def linear(start: float, end: float, points: int) -> list[float]:
    return [start + (end - start) * i / (points - 1) for i in range(points)]


def step(start: float, end: float, points: int, after: int) -> list[float]:
    return [start] * (points - after) + [end] * after


def rate(rng: random.Random, rates: list[float], cases: int, shock: float, sims: int,
         seed: int) -> tuple[float, float]:
    """(share of histories declared a decline, seconds per history)."""
    start = time.perf_counter()
    hits = sum(rate_drift(history(rng, rates, cases, shock), alpha=ALPHA,
                          seed=seed + i).declined for i in range(sims))
    return hits / sims, (time.perf_counter() - start) / sims


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sims", type=int, default=400, help="histories per row")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    se = math.sqrt(ALPHA * (1 - ALPHA) / args.sims)
    print(f"alpha {ALPHA}; {args.sims} simulated histories per row (a false-alarm rate "
          f"within {2 * se:.1%} of {ALPHA:.0%} is noise)\n")

    print("False alarms on stable histories (90% pass rate, nothing changes)")
    print(f"{'points':>7} {'cases':>6} {'overdispersed':>14} {'false alarms':>13} "
          f"{'ms/history':>11}")
    for points in (8, 20, 50, 200):
        for cases in (10, 35, 200):
            for shock in (0.0, SHOCK):
                fa, secs = rate(rng, [0.9] * points, cases, shock, args.sims, args.seed)
                print(f"{points:>7} {cases:>6} {'yes' if shock else 'no':>14} {fa:>13.1%} "
                      f"{1000 * secs:>11.1f}")

    print("\nPower on declines (35 cases, 20 points unless said)")
    scenarios = [
        ("linear 92% -> 78%", linear(0.92, 0.78, 20), 0.0),
        ("linear 92% -> 78%, overdispersed", linear(0.92, 0.78, 20), SHOCK),
        ("step 92% -> 78% at point 10", step(0.92, 0.78, 20, 10), 0.0),
        ("step 92% -> 78% in the last 5", step(0.92, 0.78, 20, 5), 0.0),
        ("step 92% -> 78% in the last 3", step(0.92, 0.78, 20, 3), 0.0),
        ("linear 92% -> 87% (5-point drop)", linear(0.92, 0.87, 20), 0.0),
        ("step 92% -> 87% at point 10", step(0.92, 0.87, 20, 10), 0.0),
        ("linear 92% -> 87%, 50 points", linear(0.92, 0.87, 50), 0.0),
        ("8 points, step 92% -> 70% at point 4", step(0.92, 0.70, 8, 4), 0.0),
        ("one bad point (60%) last of 20", [*[0.92] * 19, 0.6], 0.0),
        ("one bad point (60%) last of 60", [*[0.92] * 59, 0.6], 0.0),
    ]
    print(f"{'scenario':42} {'declined':>9} {'ms/history':>11}")
    for name, rates, shock in scenarios:
        power, secs = rate(rng, rates, 35, shock, args.sims, args.seed)
        print(f"{name:42} {power:>9.1%} {1000 * secs:>11.1f}")

    print("\nTime on long histories (one run each, 35 cases per point)")
    for points, rates in [(1000, [0.9] * 1000), (1000, step(0.9, 0.87, 1000, 500))]:
        counts = history(rng, rates, 35, 0.0)
        start = time.perf_counter()
        d = rate_drift(counts, seed=args.seed)
        label = "stable" if len(set(rates)) == 1 else "step 90% -> 87% at 500"
        print(f"{points} points, {label}: {time.perf_counter() - start:.2f} s (p = {d.p:.3g})")


if __name__ == "__main__":
    main()

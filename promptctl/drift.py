"""Drift: is there a sustained decline across the points of a history (oldest first)?

Owns the drift verdict of `history` and `score`: `rate_drift` (per-point pass counts),
`mean_drift` (per-point metric scores), `describe` (the verdict as one sentence) and
`sparkline`. Pure computation, no I/O; stdlib and `promptctl.stats` only.

The test (docs/statistics.md, "Drift"): a change-point test on the ranks of the
per-point values (pass rate or metric mean). For each split k, "before" is points
[0, k) and "after" is [k, n), each at least MIN_SEGMENT points; the statistic is the
standardised rank sum of "before" (large when the early points rank high), maximised
over k. The p-value is a permutation test over the points: exact over every ordering
for up to EXACT_POINTS points, else a seeded Monte Carlo (Besag-Clifford sequential
stopping). Invariants:

- the false-alarm rate is at most alpha whenever the points are exchangeable (nothing
  changed), whatever the spread of a point's value: binomial or overdispersed, cases
  shared between points or not. The one assumption is exchangeability of the points;
- one point, however bad, is never a segment, and its rank bounds its weight: a single
  noisy point cannot make a decline on its own;
- deterministic for a given seed; a 1,000-point history takes well under a second.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, islice
from operator import mul

from promptctl.stats import mean_interval, wilson

MIN_SEGMENT = 2  # points in a segment: one point alone is never "a change"
EXACT_POINTS = 7  # up to this many points, the p-value enumerates every ordering
RESAMPLES = 1999  # Monte Carlo orderings at most (p-values down to 1/2000)
STOP_AFTER = 40  # Besag-Clifford: stop once this many orderings reach the observed value
WORK = 500_000  # orderings x points at most (bounds the time on very long histories)

RATE_METHOD = "change-point (rank sum, permutation of points)"
MEAN_METHOD = "change-point on means (rank sum, permutation of points)"


@dataclass(frozen=True)
class Segment:
    start: int  # index of its first point
    end: int  # index of its last point (inclusive)
    value: float  # pass rate (or metric mean) over the segment's pooled data
    ci: tuple[float, float]  # 95% interval (Wilson for rates; clustered mean otherwise)
    n: int  # observations pooled


@dataclass(frozen=True)
class Drift:
    method: str  # short name of the test
    p: float | None  # one-sided p-value for "a sustained decline"; None: too few points
    alpha: float
    before: Segment | None  # the segment before the most likely change
    after: Segment | None  # the segment after it
    kind: str = "rate"  # "rate" (values are proportions) or "mean" (a metric's scale)

    @property
    def drop(self) -> float:
        if self.before is None or self.after is None:
            return 0.0
        return self.before.value - self.after.value

    @property
    def declined(self) -> bool:
        return self.p is not None and self.p <= self.alpha and self.drop > 0

    def significant(self, max_drop: float) -> bool:
        return self.declined and self.drop > max_drop


# -- the test --------------------------------------------------------------------------

def midranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n, ties sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for t in range(i, j + 1):
            ranks[order[t]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def split_statistics(values: Sequence[float]) -> list[tuple[int, float]]:
    """[(k, z_k)] for every allowed split: z_k is the rank sum of points [0, k) minus
    its mean under exchangeability, over its standard deviation (ties included).
    Positive when the early points rank higher than the late ones (a decline)."""
    n = len(values)
    if n < 2 * MIN_SEGMENT:
        return []
    ranks = midranks(values)
    centre = (n + 1) / 2
    c = [r - centre for r in ranks]
    spread = sum(x * x for x in c)
    out = []
    s = sum(c[:MIN_SEGMENT - 1])
    for k in range(MIN_SEGMENT, n - MIN_SEGMENT + 1):
        s += c[k - 1]
        var = k * (n - k) / (n * (n - 1)) * spread
        out.append((k, s / math.sqrt(var) if var > 0 else 0.0))
    return out


def _weights(n: int) -> list[float]:
    return [1 / math.sqrt(k * (n - k)) for k in range(MIN_SEGMENT, n - MIN_SEGMENT + 1)]


def _max_stat(c: Sequence[float], weights: Sequence[float]) -> float:
    """max over splits of the (unscaled) standardised rank sum, at C speed."""
    n = len(c)
    return max(map(mul, islice(accumulate(c), MIN_SEGMENT - 1, n - MIN_SEGMENT), weights))


def permutation_p(values: Sequence[float], *, seed: int = 0) -> float:
    """P(max_k z_k over a random ordering of the points >= the observed max_k z_k)."""
    n = len(values)
    ranks = midranks(values)
    centre = (n + 1) / 2
    c = [r - centre for r in ranks]
    if not any(c):
        return 1.0
    weights = _weights(n)
    observed = _max_stat(c, weights)
    tol = 1e-9 * max(1.0, abs(observed))
    if n <= EXACT_POINTS:
        hits = total = 0
        for perm in itertools.permutations(c):
            total += 1
            hits += _max_stat(perm, weights) >= observed - tol
        return hits / total
    rng = random.Random(seed)
    draw = rng.random
    idx = range(n)
    budget = max(199, min(RESAMPLES, WORK // n))
    hits = 0
    for done in range(1, budget + 1):
        keys = [draw() for _ in idx]
        perm = list(map(c.__getitem__, sorted(idx, key=keys.__getitem__)))
        hits += _max_stat(perm, weights) >= observed - tol
        if hits >= STOP_AFTER:
            return hits / done
    return (hits + 1) / (budget + 1)


def _change(values: Sequence[float], seed: int) -> tuple[int, float] | None:
    """(k, p) for the most likely split (the largest z_k; the earliest on ties)."""
    stats_ = split_statistics(values)
    if not stats_:
        return None
    k = max(stats_, key=lambda kz: kz[1])[0]
    return k, permutation_p(values, seed=seed)


def rate_drift(counts: Sequence[tuple[int, int]], *, alpha: float = 0.05,
               seed: int = 0) -> Drift:
    """counts[i] = (passed, total) of history point i, oldest first. Points with no
    observations (total 0) are left out of the test and of the segments."""
    live = [i for i, (_, total) in enumerate(counts) if total > 0]
    found = _change([counts[i][0] / counts[i][1] for i in live], seed)
    if found is None:
        return Drift(RATE_METHOD, None, alpha, None, None, "rate")
    k, p = found

    def segment(points: list[int]) -> Segment:
        passed = sum(counts[i][0] for i in points)
        total = sum(counts[i][1] for i in points)
        return Segment(points[0], points[-1], passed / total, wilson(passed, total), total)

    return Drift(RATE_METHOD, p, alpha, segment(live[:k]), segment(live[k:]), "rate")


def mean_drift(samples: Sequence[Sequence[float]], *, alpha: float = 0.05,
               seed: int = 0) -> Drift:
    """samples[i] = the metric's per-case scores at point i (floats, usually in [0, 1]).
    Points with no scores are left out of the test and of the segments."""
    live = [i for i, s in enumerate(samples) if len(s)]
    found = _change([math.fsum(samples[i]) / len(samples[i]) for i in live], seed)
    if found is None:
        return Drift(MEAN_METHOD, None, alpha, None, None, "mean")
    k, p = found

    def segment(points: list[int]) -> Segment:
        pooled = [float(x) for i in points for x in samples[i]]
        mean, lo, hi = mean_interval([[x] for x in pooled])
        return Segment(points[0], points[-1], mean, (lo, hi), len(pooled))

    return Drift(MEAN_METHOD, p, alpha, segment(live[:k]), segment(live[k:]), "mean")


# -- words and pictures ----------------------------------------------------------------

def format_p(p: float) -> str:
    """Two significant digits; "< 0.001" when tiny."""
    if p < 0.001:
        return "< 0.001"
    return "= " + f"{p:.2g}"


def _value(d: Drift, seg: Segment) -> str:
    lo, hi = seg.ci
    if d.kind == "rate":
        return f"{100 * seg.value:.0f}% [{100 * lo:.0f}-{100 * hi:.0f}]"
    return f"{seg.value:.2f} [{lo:.2f}-{hi:.2f}]"


def describe(d: Drift, labels: Sequence[str], what: str = "pass rate") -> str:
    """One sentence: the decline, or that there is none, or that there are too few
    points. labels[i] names point i."""
    if d.p is None or d.before is None or d.after is None:
        return (f"{what}: too few points to test for drift "
                f"(at least {2 * MIN_SEGMENT} are needed)")
    before, after = d.before, d.after
    span = f"between {labels[before.end]} and {labels[after.start]}"
    if d.declined:
        return (f"{what} fell from {_value(d, before)} to {_value(d, after)} {span}: "
                f"p {format_p(d.p)}")
    return (f"no sustained decline in {what}: {_value(d, before)} up to "
            f"{labels[before.end]}, {_value(d, after)} from {labels[after.start]} on "
            f"(p {format_p(d.p)})")


BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None]) -> str:
    """One block per value, 8 levels from the values' min to their max (a flat middle
    line when they are all equal); None is a space."""
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    lo, hi = min(known), max(known)
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif hi == lo:
            out.append(BLOCKS[3])
        else:
            level = int((v - lo) / (hi - lo) * (len(BLOCKS) - 1) + 0.5)
            out.append(BLOCKS[min(len(BLOCKS) - 1, max(0, level))])
    return "".join(out)

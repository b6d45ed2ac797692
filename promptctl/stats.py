"""Statistics for verdicts a CI job can trust, in plain Python (no scipy at run time;
the tests check every function against scipy.stats).

- `wilson`: the Wilson score interval for a pass rate.
- `clustered_mean`: a mean over samples grouped by case, with the cluster-robust
  standard error (samples of one case are not independent evidence).
- `fisher_less`: one-sided Fisher exact test, "the candidate passes less often".
- `stratified_less`: the exact stratified (conditional, Cochran-Mantel-Haenszel style)
  version over many cases: the suite-level test on pass counts.
- `signflip_less`: paired sign-flip permutation test on per-case differences, for
  continuous metrics.
- `holm`: Holm's step-down adjustment for a family of p-values.
- `min_detectable_drop`: the smallest suite-level drop in pass rate the stratified
  test finds with 80% power (a normal approximation).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from statistics import NormalDist

_NORMAL = NormalDist()


def z(p: float) -> float:
    return _NORMAL.inv_cdf(p)


def wilson(k: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (n may be an effective size)."""
    if n <= 0:
        return 0.0, 1.0
    q = z(1 - alpha / 2)
    p = k / n
    denom = 1 + q * q / n
    centre = (p + q * q / (2 * n)) / denom
    half = q * math.sqrt(p * (1 - p) / n + q * q / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def clustered_mean(clusters: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Mean over all samples and its cluster-robust standard error (CR1)."""
    groups = [g for g in clusters if len(g)]
    n = sum(len(g) for g in groups)
    if n == 0:
        return 0.0, 0.0
    mean = sum(sum(g) for g in groups) / n
    m = len(groups)
    if m < 2:
        return mean, 0.0
    resid = sum((sum(g) - len(g) * mean) ** 2 for g in groups)
    return mean, math.sqrt(m / (m - 1) * resid) / n


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile (Cornish-Fisher expansion; within 0.2% for df >= 3)."""
    x = z(p)
    if df <= 0 or math.isinf(df):
        return x
    g1 = (x**3 + x) / 4
    g2 = (5 * x**5 + 16 * x**3 + 3 * x) / 96
    g3 = (3 * x**7 + 19 * x**5 + 17 * x**3 - 15 * x) / 384
    g4 = (79 * x**9 + 776 * x**7 + 1482 * x**5 - 1920 * x**3 - 945 * x) / 92160
    return x + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def mean_interval(clusters: Sequence[Sequence[float]], alpha: float = 0.05
                  ) -> tuple[float, float, float]:
    """(mean, lo, hi) for a score in [0, 1] averaged over cases and their repeats."""
    mean, se = clustered_mean(clusters)
    m = sum(1 for g in clusters if len(g))
    if se == 0 or m < 2:
        return mean, mean, mean
    half = t_quantile(1 - alpha / 2, m - 1) * se
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def rate_interval(clusters: Sequence[Sequence[float]], alpha: float = 0.05
                  ) -> tuple[float, float, float]:
    """A pass rate over cases with repeats: Wilson at the effective sample size that
    the clustered standard error implies (never larger than the sample count)."""
    n = sum(len(g) for g in clusters)
    k = sum(sum(g) for g in clusters)
    if n == 0:
        return 0.0, 0.0, 1.0
    p, se = clustered_mean(clusters)
    n_eff = float(n)
    if 0 < p < 1 and se > 0:
        n_eff = min(float(n), p * (1 - p) / (se * se))
    lo, hi = wilson(p * n_eff, n_eff, alpha)
    return k / n, lo, hi


def _hypergeom_pmf(total: int, successes: int, draws: int) -> list[float]:
    """pmf of the successes among `draws` items taken from `total` holding `successes`,
    indexed from 0 to draws."""
    denom = math.comb(total, draws)
    return [math.comb(successes, x) * math.comb(total - successes, draws - x) / denom
            if 0 <= draws - x <= total - successes and x <= successes else 0.0
            for x in range(draws + 1)]


def fisher_less(k1: int, n1: int, k0: int, n0: int) -> float:
    """P(candidate passes <= k1 of n1 | the margins), under 'same pass rate as the
    baseline's k0 of n0': small when the candidate passes less often."""
    return stratified_less([(k1, n1, k0, n0)])


def stratified_less(strata: Sequence[tuple[int, int, int, int]]) -> float:
    """Exact stratified test over cases [(k1, n1, k0, n0), ...]: the distribution of the
    candidate's total passes given every case's margins is the convolution of one
    hypergeometric per case; the p-value is its lower tail at the observed total."""
    live = [(k1, n1, k0, n0) for k1, n1, k0, n0 in strata
            if 0 < k0 + k1 < n0 + n1]  # a case with one outcome only carries no evidence
    if sum(n1 for _, n1, _, _ in live) > 5000:
        return _stratified_normal(live)
    dist = [1.0]
    observed = 0
    for k1, n1, k0, n0 in live:
        pmf = _hypergeom_pmf(n0 + n1, k0 + k1, n1)
        observed += k1
        new = [0.0] * (len(dist) + len(pmf) - 1)
        for i, a in enumerate(dist):
            if a:
                for j, b in enumerate(pmf):
                    if b:
                        new[i + j] += a * b
        dist = new
    return min(1.0, sum(dist[: observed + 1]))


def _stratified_normal(strata: Sequence[tuple[int, int, int, int]]) -> float:
    """Cochran-Mantel-Haenszel with a continuity correction, for very large suites."""
    shift = var = 0.0
    for k1, n1, k0, n0 in strata:
        total, passes = n0 + n1, k0 + k1
        shift += k1 - n1 * passes / total
        var += n1 * n0 * passes * (total - passes) / (total * total * (total - 1))
    if var <= 0:
        return 1.0
    return _NORMAL.cdf((shift + 0.5) / math.sqrt(var))


def signflip_less(diffs: Sequence[float], *, resamples: int = 20_000, seed: int = 0) -> float:
    """One-sided paired sign-flip test: P(mean of randomly signed |d| <= observed mean).
    Exact for up to 16 non-zero differences, else Monte Carlo with a fixed seed."""
    nonzero = [d for d in diffs if abs(d) > 1e-12]
    if not nonzero:
        return 1.0
    observed = sum(nonzero)
    mags = [abs(d) for d in nonzero]
    eps = 1e-9 * max(mags)
    if len(mags) <= 16:
        count = 0
        total = 1 << len(mags)
        for mask in range(total):
            s = sum(-m if mask >> i & 1 else m for i, m in enumerate(mags))
            count += s <= observed + eps
        return count / total
    rng = random.Random(seed)
    hits = 0
    for _ in range(resamples):
        s = sum(m if rng.random() < 0.5 else -m for m in mags)
        hits += s <= observed + eps
    return (hits + 1) / (resamples + 1)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values: reject where adjusted <= alpha."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def min_detectable_drop(baseline: Sequence[tuple[int, int]], repeats: int, *,
                        alpha: float, power: float = 0.8) -> float | None:
    """The smallest mean drop in pass rate (0..1) that the suite-level test detects with
    the given power, for a drop spread over every case (a normal approximation to the
    stratified test). None when no drop within reach is detectable."""
    cases = [(k, n) for k, n in baseline if n > 0]
    if not cases or repeats < 1:
        return None
    need = z(1 - alpha) + z(power)
    for step in range(1, 101):
        delta = step / 100
        shift = var = 0.0
        for k, n in cases:
            p = (k + 0.5) / (n + 1)  # Jeffreys: a 5/5 case is not certain
            q = max(0.0, p - delta)
            shift += p - q
            var += p * (1 - p) / n + q * (1 - q) / repeats
        if var > 0 and shift >= need * math.sqrt(var):
            return shift / len(cases)
    return None

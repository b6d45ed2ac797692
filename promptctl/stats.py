"""Statistics for verdicts a CI job can trust, in plain Python (no scipy at run time;
the tests check every function against scipy.stats).

- `wilson`: the Wilson score interval for a pass rate.
- `clustered_mean`: a mean over samples grouped by case, with the cluster-robust
  standard error (samples of one case are not independent evidence).
- `rate_interval`, `mean_interval`: a suite's pass rate and a named metric (scores in
  [0, 1]) with 95% intervals over clusters. Neither ever collapses to a point: with no
  spread between cases, the evidence is the number of cases, not of samples.
- `fisher_less`: one-sided Fisher exact test, "the candidate passes less often".
- `stratified_less`: the exact stratified (conditional, Cochran-Mantel-Haenszel style)
  version over many cases: the suite-level test on pass counts.
- `signflip_less`: paired sign-flip permutation test on per-case differences, for
  continuous metrics.
- `signflip_two_sided` and `paired_interval`: the two-sided paired test of `compare`
  and the interval that inverts it, so that the two can never disagree: 0 is inside
  the interval exactly when the test's p-value is above alpha (see `paired_interval`).
- `t_ppf`: Student's t quantile (exact for whole degrees of freedom below 100).
- `holm`: Holm's step-down adjustment for a family of p-values.
- `min_detectable_drop`: the smallest suite-level drop in pass rate the stratified
  test finds with 80% power (a normal approximation).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


@functools.lru_cache(maxsize=4096)
def clopper_pearson(k: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval for k successes in n trials; k may be
    fractional (a sum of scores in [0, 1]), through the beta distribution."""
    if n <= 0:
        return 0.0, 1.0
    k = min(max(k, 0.0), n)
    lo = 0.0 if k <= 0 else _beta_ppf(alpha / 2, k, n - k + 1)
    hi = 1.0 if k >= n else _beta_ppf(1 - alpha / 2, k + 1, n - k)
    return lo, hi


def _beta_ppf(p: float, a: float, b: float) -> float:
    lo, hi = 0.0, 1.0
    for _ in range(56):  # to 1.4e-17
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _betainc(a, b, mid) < p else (lo, mid)
    return (lo + hi) / 2


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (continued fraction, Lentz)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _betainc(b, a, 1 - x)
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 500):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * f / a


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


@functools.lru_cache(maxsize=1024)
def t_ppf(p: float, df: float) -> float:
    """Student's t quantile: bisection on the exact CDF for whole df < 100, else
    t_quantile (an approximation that is poor for small samples). Cached: a history
    asks for the same few (p, df) once per point and metric."""
    if df < 1 or df >= 100 or df != int(df):
        return t_quantile(p, df)
    if p < 0.5:
        return -t_ppf(1 - p, df)
    lo, hi = 0.0, 1e6
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, int(df)) < p else (lo, mid)
    return (lo + hi) / 2


def _t_cdf(t: float, df: int) -> float:
    """P(T <= t) for t >= 0 and whole df (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2:
        term, total = math.cos(theta), 0.0
        for k in range(1, (df - 1) // 2 + 1):
            total += term
            term *= c2 * (2 * k) / (2 * k + 1)
        a = 2 / math.pi * (theta + math.sin(theta) * total)
    else:
        term, total = 1.0, 0.0
        for k in range(1, df // 2 + 1):
            total += term
            term *= c2 * (2 * k - 1) / (2 * k)
        a = math.sin(theta) * total
    return 0.5 + a / 2


def mean_interval(clusters: Sequence[Sequence[float]], alpha: float = 0.05
                  ) -> tuple[float, float, float]:
    """(mean, lo, hi) for a score in [0, 1] averaged over cases and their repeats.

    A cluster-robust t interval, computed as if two more cases had been seen: one that
    scored 0 and one that scored 1 on every sample (Agresti and Coull's "add a failure
    and a success", per case). Cases that all score the same say nothing about how much
    an unseen case could differ, so a plain t interval would be a point; the two extra
    cases keep it honest for a few cases and vanish in the noise of many. Always
    contains the mean, never leaves [0, 1], never has zero width."""
    groups = [list(g) for g in clusters if len(g)]
    if not groups:
        return 0.0, 0.0, 1.0
    mean, _ = clustered_mean(groups)
    size = max(1, round(sum(len(g) for g in groups) / len(groups)))
    padded = [*groups, [0.0] * size, [1.0] * size]
    centre, se = clustered_mean(padded)
    half = t_ppf(1 - alpha / 2, len(padded) - 1) * se
    return mean, max(0.0, min(mean, centre - half)), min(1.0, max(mean, centre + half))


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


# -- paired differences: compare's test and the interval that inverts it --------------
_GRID = 1e9  # differences are put on a 1e-9 grid: exact sums, no float ties
EXACT_INTERVAL_SUPPORT = 5_000  # beyond, the interval's bounds use a normal approximation


@dataclass(frozen=True)
class _Signs:
    """Paired differences as the sign-flip test sees them: the non-zero sizes on the
    grid, the observed signed sum, a tolerance for grid rounding, and (while it has at
    most `max_support` values) how many of the 2^n sign vectors give each sum."""

    mags: list[int]
    observed: int
    tol: int
    counts: dict[int, int] | None


def _signs(diffs: Sequence[float], max_support: int) -> _Signs:
    grid = [round(d * _GRID) for d in diffs]
    mags = [abs(g) for g in grid if g]
    counts: dict[int, int] | None = {0: 1}
    for m in mags:
        assert counts is not None
        nxt: dict[int, int] = {}
        for total, c in counts.items():
            nxt[total + m] = nxt.get(total + m, 0) + c
            nxt[total - m] = nxt.get(total - m, 0) + c
        counts = nxt
        if len(counts) > max_support:
            counts = None
            break
    return _Signs(mags, sum(g for g in grid if g), max(1, len(mags)), counts)


def signflip_two_sided(diffs: Sequence[float], *, resamples: int = 20_000, seed: int = 0,
                       max_support: int = 200_000) -> float:
    """Two-sided paired sign-flip test: P(|sum of randomly signed |d|| >= |observed|),
    which (the null distribution being symmetric) is twice the smaller tail. Exact while
    the sum has at most `max_support` values, else Monte Carlo with a fixed seed. On
    differences of -1, 0 and +1 (a case passed on one side only) this is the exact
    McNemar test: a binomial test of the wins among the cases that changed."""
    signs = _signs(diffs, max_support)
    if not signs.mags:
        return 1.0
    if signs.counts is not None:
        up = sum(c for x, c in signs.counts.items() if x >= signs.observed - signs.tol)
        down = sum(c for x, c in signs.counts.items() if x <= signs.observed + signs.tol)
        return min(1.0, 2 * min(up, down) / (1 << len(signs.mags)))
    observed = abs(signs.observed)
    rng = random.Random(seed)
    hits = sum(abs(sum(m if rng.random() < 0.5 else -m for m in signs.mags))
               >= observed - signs.tol for _ in range(resamples))
    return (hits + 1) / (resamples + 1)


def min_p_value(changed: int) -> float:
    """The smallest p-value the two-sided paired test can reach with this many cases that
    changed (all in the same direction): 2 / 2^changed."""
    return min(1.0, 2.0 ** (1 - changed))


def cases_needed(alpha: float) -> int:
    """The fewest changed cases with which the paired test can be significant at alpha."""
    k = 1
    while min_p_value(k) > alpha and k < 64:
        k += 1
    return k


def paired_interval(diffs: Sequence[float], alpha: float = 0.05, *,
                    p_value: float | None = None,
                    max_support: int = EXACT_INTERVAL_SUPPORT) -> tuple[float, float]:
    """A 1 - alpha interval for the mean of paired differences in [-1, 1] (B - A per
    case), built so that it agrees with `signflip_two_sided` by construction:
    0 lies in [lo, hi] exactly when the test's p-value is above alpha.

    The mean difference is (how much the cases change, on average: the mean of |d|)
    times (the net share of that change that goes B's way: sum(d) / sum(|d|), between
    -1 and +1). Each factor gets its own range:

    - the share, by inverting the exact test itself. Given the sizes |d|, the test asks
      whether the signs are fair coin flips; the family of alternatives tilts every
      coin towards + or - (P(+) proportional to exp(theta |d|)), and the shares whose
      equal-tailed exact test at alpha does not reject form the range. theta = 0 is
      the test's own null hypothesis, so the range holds a zero share exactly when the
      p-value is above alpha. On pass/fail differences this is the Clopper-Pearson
      interval of the wins among the cases that changed;
    - the size, by a Wilson interval on sum(|d|) out of n (a size in [0, 1] varies no
      more than a pass/fail outcome with the same mean). Its lower end is above 0 as
      soon as one case changed, so it never moves 0 in or out of the interval.

    The product of the two ranges never collapses to a point: all-equal differences
    still leave the share and the size uncertain. `p_value` is the test's p-value
    when already known (it must be `signflip_two_sided(diffs)`); where the bounds come
    from a normal approximation (more than `max_support` distinct sums) they are pinned
    to the side of 0 that it decides."""
    n = len(diffs)
    if n == 0:
        return -1.0, 1.0
    scale = max(1.0, max(abs(d) for d in diffs))
    size_lo, size_hi = clopper_pearson(sum(abs(d) for d in diffs) / scale, n, alpha)
    signs = _signs(diffs, max_support)
    if not signs.mags:  # nothing changed: any share, at most size_hi
        return -scale * size_hi, scale * size_hi
    p = signflip_two_sided(diffs) if p_value is None else p_value
    low, high = _tilt_bounds(tuple(sorted(signs.mags)), signs.observed, alpha, max_support)
    mags = [m / _GRID for m in signs.mags]
    if p > alpha:  # exact: already so; approximate bounds are pinned to the test
        low, high = min(low, 0.0), max(high, 0.0)
    elif signs.observed > 0:
        low = max(low, 1e-9 / max(mags))
    else:
        high = min(high, -1e-9 / max(mags))

    def share(theta: float) -> float:
        if math.isinf(theta):
            return math.copysign(1.0, theta)
        return sum(m * math.tanh(theta * m) for m in mags) / sum(mags)

    s_lo, s_hi = share(low), share(high)
    lo = scale * s_lo * (size_hi if s_lo < 0 else size_lo)
    hi = scale * s_hi * (size_hi if s_hi > 0 else size_lo)
    mean = sum(diffs) / n
    return max(-scale, min(lo, mean)), min(scale, max(hi, mean))


@functools.lru_cache(maxsize=4096)
def _tilt_bounds(sizes: tuple[int, ...], observed: int, alpha: float, max_support: int
                 ) -> tuple[float, float]:
    """(theta_lo, theta_hi): the tilts whose one-sided tails at the observed sum are both
    above alpha / 2 (+-inf where a tail never falls that low). Pure, so cached: a suite's
    measures often share their differences."""
    signs = _signs([m / _GRID for m in sizes], max_support)
    signs = _Signs(signs.mags, observed, signs.tol, signs.counts)
    mags = [m / _GRID for m in signs.mags]
    top = sum(mags)
    t_up = (signs.observed - signs.tol) / _GRID  # "at least the observed sum"
    t_down = (signs.observed + signs.tol) / _GRID  # "at most"
    if signs.counts is not None:
        sums = [x / _GRID for x in signs.counts]
        logs = [math.log(c) for c in signs.counts.values()]
        above = [x >= t_up for x in sums]
        below = [x <= t_down for x in sums]

        def tails(theta: float, upper: bool) -> float:
            tilted = [lc + theta * x for x, lc in zip(sums, logs, strict=True)]
            peak = max(tilted)
            w = [math.exp(v - peak) for v in tilted]
            keep = above if upper else below
            return sum(wi for wi, k in zip(w, keep, strict=True) if k) / sum(w)
    else:
        def tails(theta: float, upper: bool) -> float:
            mu = sum(m * math.tanh(theta * m) for m in mags)
            var = sum(m * m * (1 - math.tanh(theta * m) ** 2) for m in mags)
            if var <= 0:
                return float(mu >= t_up if upper else mu <= t_down)
            z_ = ((t_up if upper else t_down) - mu) / math.sqrt(var)
            return 1 - _NORMAL.cdf(z_) if upper else _NORMAL.cdf(z_)

    unit = len(mags) / top  # a tilt of about 1 / (typical size)
    half = alpha / 2
    low = -math.inf if t_up <= -top else _root(lambda th: tails(th, True) > half, unit)
    high = math.inf if t_down >= top else -_root(lambda th: tails(-th, False) > half, unit)
    return low, high


def _root(accept: Callable[[float], bool], unit: float) -> float:
    """The boundary of {theta: accept(theta)} for an accept that is false far left and
    true far right (monotone): bracket by doubling, then bisect."""
    a, b = -unit, unit
    for _ in range(200):
        if not accept(a):
            break
        a *= 2
    for _ in range(200):
        if accept(b):
            break
        b *= 2
    while b - a > 1e-13 * max(unit, abs(a), abs(b)):
        mid = (a + b) / 2
        a, b = (a, mid) if accept(mid) else (mid, b)
    return (a + b) / 2


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

"""The statistics, checked against scipy.stats and brute-force enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sp

from promptctl import stats


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (3, 5), (0, 20), (17, 20), (50, 100),
                                      (999, 1000)])
def test_wilson_matches_scipy(k, n):
    ref = sp.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = stats.wilson(k, n)
    assert lo == pytest.approx(ref.low, abs=1e-9)
    assert hi == pytest.approx(ref.high, abs=1e-9)


@pytest.mark.parametrize(("k1", "n1", "k0", "n0"), [
    (0, 5, 5, 5), (1, 5, 5, 5), (2, 5, 5, 5), (5, 5, 5, 5), (3, 10, 8, 10), (0, 1, 1, 1),
    (4, 7, 2, 3), (12, 20, 19, 20), (1, 1, 3, 5)])
def test_fisher_less_matches_scipy(k1, n1, k0, n0):
    _, ref = sp.fisher_exact([[k1, n1 - k1], [k0, n0 - k0]], alternative="less")
    assert stats.fisher_less(k1, n1, k0, n0) == pytest.approx(ref, rel=1e-9, abs=1e-12)


def brute_force_stratified(strata):
    """Enumerate every way to deal each case's passes between candidate and baseline."""
    observed = sum(k1 for k1, _, _, _ in strata)
    per_case = []
    for k1, n1, k0, n0 in strata:
        total, passes = n0 + n1, k0 + k1
        outcomes = []
        for chosen in itertools.combinations(range(total), n1):
            outcomes.append(sum(1 for i in chosen if i < passes))
        per_case.append(outcomes)
    hits = count = 0
    for combo in itertools.product(*per_case):
        count += 1
        hits += sum(combo) <= observed
    return hits / count


@pytest.mark.parametrize("strata", [
    [(2, 3, 3, 3), (1, 3, 2, 3)],
    [(0, 2, 2, 2), (2, 2, 2, 2), (1, 3, 1, 2)],
    [(1, 4, 3, 4)],
])
def test_stratified_test_is_the_exact_permutation_distribution(strata):
    assert stats.stratified_less(strata) == pytest.approx(brute_force_stratified(strata))


def test_stratified_ignores_cases_with_one_outcome_and_uses_the_normal_tail_when_huge():
    base = [(2, 5, 5, 5), (3, 5, 5, 5)]
    assert stats.stratified_less([*base, (5, 5, 5, 5), (0, 5, 0, 5)]) == \
        stats.stratified_less(base)
    huge = [(40, 50, 45, 50)] * 120  # 6,000 candidate samples: normal approximation
    p = stats.stratified_less(huge)
    assert p < 1e-6
    assert stats.stratified_less([(45, 50, 45, 50)] * 120) > 0.4


@pytest.mark.parametrize("diffs", [[-0.2, -0.4, 0.0, 0.2, -0.6, -0.2],
                                   [0.1, -0.3, -0.5, 0.2, -0.1, -0.4, -0.2, 0.05, -0.3]])
def test_signflip_matches_scipy_exact_permutation(diffs):
    ref = sp.permutation_test((np.array(diffs),), np.mean, permutation_type="samples",
                              alternative="less", n_resamples=np.inf).pvalue
    assert stats.signflip_less(diffs) == pytest.approx(ref)


def test_signflip_monte_carlo_is_deterministic_and_close():
    rng = np.random.default_rng(1)
    diffs = list(rng.normal(-0.05, 0.2, 40))
    p = stats.signflip_less(diffs)
    assert p == stats.signflip_less(diffs)
    ref = sp.permutation_test((np.array(diffs),), np.mean, permutation_type="samples",
                              alternative="less", n_resamples=200_000,
                              random_state=0).pvalue
    assert p == pytest.approx(ref, abs=0.01)


def test_holm_matches_a_worked_example():
    # Holm (1979) style example: sorted p 0.01, 0.02, 0.03, 0.04 with m = 4
    assert stats.holm([0.04, 0.01, 0.03, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert stats.holm([0.5]) == [0.5]


@pytest.mark.parametrize("df", [3, 5, 10, 30, 100])
def test_t_quantile_matches_scipy(df):
    assert stats.t_quantile(0.975, df) == pytest.approx(sp.t.ppf(0.975, df), rel=2e-3)


def test_clustered_standard_error_matches_the_sandwich_formula():
    clusters = [[1, 1, 0], [0, 0, 0], [1, 1, 1], [1, 0, 1]]
    mean, se = stats.clustered_mean(clusters)
    flat = [x for g in clusters for x in g]
    assert mean == pytest.approx(np.mean(flat))
    n, m = len(flat), len(clusters)
    resid = sum((sum(g) - len(g) * mean) ** 2 for g in clusters)
    assert se == pytest.approx(math.sqrt(m / (m - 1) * resid) / n)
    # with one sample per case it is the ordinary standard error of the mean
    single = [[1], [0], [1], [1], [0]]
    _, se1 = stats.clustered_mean(single)
    assert se1 == pytest.approx(np.std([1, 0, 1, 1, 0], ddof=1) / math.sqrt(5))


def test_rate_interval_widens_when_repeats_are_correlated():
    independent = [[1], [0], [1], [1]] * 5
    correlated = [[1] * 5, [0] * 5, [1] * 5, [1] * 5] * 5  # same rate, 5x the samples
    _, lo_i, hi_i = stats.rate_interval(independent)
    _, lo_c, hi_c = stats.rate_interval(correlated)
    assert hi_c - lo_c == pytest.approx(hi_i - lo_i, rel=0.05)  # repeats add nothing
    naive = stats.wilson(75, 100)
    assert hi_c - lo_c > naive[1] - naive[0]


def test_min_detectable_drop_shrinks_with_cases_and_repeats():
    stable = [(5, 5)] * 20
    few = stats.min_detectable_drop(stable, 1, alpha=0.05)
    more = stats.min_detectable_drop(stable, 5, alpha=0.05)
    many = stats.min_detectable_drop(stable * 5, 5, alpha=0.05)
    assert few is not None and more is not None and many is not None
    assert few > more > many > 0


def test_min_detectable_drop_agrees_with_simulation():
    """At the stated drop, the stratified test detects it about 80% of the time."""
    rng = np.random.default_rng(7)
    baseline = [(int(k), 5) for k in rng.integers(3, 6, 20)]
    drop = stats.min_detectable_drop(baseline, 5, alpha=0.05)
    assert drop is not None
    hits = 0
    trials = 300
    for _ in range(trials):
        strata = []
        for k0, n0 in baseline:
            p = (k0 + 0.5) / (n0 + 1)
            k1 = int(rng.binomial(5, max(0.0, p - drop)))
            b = int(rng.binomial(n0, p))
            strata.append((k1, 5, b, n0))
        hits += stats.stratified_less(strata) <= 0.05
    assert 0.6 <= hits / trials <= 0.97

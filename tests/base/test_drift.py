"""The drift test: its statistic against scipy, its p-value against brute-force
enumeration, its false-alarm rate and power on simulated histories, and its words."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from scipy import stats as sp

from promptctl import drift, stats
from promptctl.drift import Drift, Segment

# -- references -------------------------------------------------------------------------

def brute_statistic(values):
    """The test's statistic straight from its definition (docs/statistics.md, Drift)."""
    n = len(values)
    ranks = sp.rankdata(values)
    sigma = math.sqrt(sum((r - (n + 1) / 2) ** 2 for r in ranks) / (n - 1))
    if sigma == 0:
        return 0.0

    def z(before, after):
        diff = sum(before) / len(before) - sum(after) / len(after)
        return diff / (sigma * math.sqrt(1 / len(before) + 1 / len(after)))

    best = 0.0
    for k in range(2, n - 1):
        before, after = list(ranks[:k]), list(ranks[k:])
        without_best = sorted(before)[:-1]
        without_worst = sorted(after)[1:]
        best = max(best, min(z(without_best, after), z(before, without_worst)))
    return best if best > 1e-9 * n else 0.0


def brute_p(values):
    observed = brute_statistic(values)
    if observed == 0:
        return 1.0
    perms = list(itertools.permutations(values))
    return sum(brute_statistic(p) >= observed - 1e-9 for p in perms) / len(perms)


def history(rates, cases=35, *, rng, shock=0.0, spread=0.0):
    """Pass counts per point: `cases` shared cases whose logits spread around the
    point's rate (the same cases every point), plus a point-level logit shock (a day
    when the hosted model is worse or better: overdispersion)."""
    offsets = [rng.gauss(0, spread) for _ in range(cases)]
    out = []
    for rate in rates:
        logit = math.log(rate / (1 - rate)) + rng.gauss(0, shock)
        passed = sum(rng.random() < 1 / (1 + math.exp(-(logit + o))) for o in offsets)
        out.append((passed, cases))
    return out


# -- the statistic and the p-value ------------------------------------------------------

@pytest.mark.parametrize("values", [
    [0.9, 0.8, 0.95, 0.7, 0.6, 0.65, 0.5],
    [1, 1, 0.9, 1, 0.8, 0.8, 0.9, 0.7],  # ties
    [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # a rise
])
def test_split_z_is_the_mann_whitney_z(values):
    """z of every split is scipy's Mann-Whitney statistic, normal approximation with the
    tie correction and no continuity correction, for 'before ranks higher'."""
    for k, z, _ in drift.split_statistics(values):
        res = sp.mannwhitneyu(values[:k], values[k:], alternative="greater",
                              method="asymptotic", use_continuity=False)
        assert z == pytest.approx(sp.norm.isf(res.pvalue), abs=1e-7)


@pytest.mark.parametrize("values", [
    [0.9, 0.8, 0.95, 0.7, 0.6, 0.65, 0.5],
    [1, 1, 0.9, 1, 0.8, 0.7, 0.8],
    [0.5, 0.9, 0.7, 0.6, 0.8],
    [0.9, 0.9, 0.8, 0.8],
])
def test_exact_p_value_is_the_enumeration_of_every_ordering(values):
    assert drift.permutation_p(values) == pytest.approx(brute_p(values), abs=1e-12)
    best = max(s for _, _, s in drift.split_statistics(values))
    sigma_free = drift._statistic(drift._centred(values))  # same statistic, rank scale
    assert (best > 0) == (sigma_free > 0)
    assert max(0.0, best) == pytest.approx(brute_statistic(values), abs=1e-9)


def test_monte_carlo_p_value_agrees_with_the_enumeration():
    """8 points: past the exact limit, so the seeded Monte Carlo runs; its 40,320
    orderings give the true p-value (the statistic itself is checked against its
    definition above)."""
    values = [0.95, 0.9, 0.92, 0.85, 0.88, 0.8, 0.82, 0.78]
    c = drift._centred(values)
    observed = drift._statistic(c)
    perms = list(itertools.permutations(c))
    exact = sum(drift._statistic(p) >= observed - 1e-9 for p in perms) / len(perms)
    assert 0.005 < exact < 0.2
    got = drift.permutation_p(values, seed=1)
    assert got == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / 1999) + 1e-3)
    assert drift.permutation_p(values, seed=1) == got  # deterministic


# -- false alarms and power -------------------------------------------------------------

def test_false_alarm_rate_on_stable_histories():
    """400 simulated stable histories each: binomial points, and overdispersed ones
    (a point-level shock on heterogeneous shared cases), short and longer. The rate is
    within 3 standard errors of alpha in each, and within 2.5 over all 1,200."""
    rng = random.Random(11)
    sims, total = 400, 0
    for points, shock, spread in [(12, 0.0, 0.0), (12, 0.6, 1.0), (30, 0.6, 1.0)]:
        alarms = sum(drift.rate_drift(history([0.9] * points, rng=rng, shock=shock,
                                              spread=spread), seed=i).declined
                     for i in range(sims))
        assert alarms / sims <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / sims), (points, shock)
        total += alarms
    assert total / (3 * sims) <= 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / (3 * sims))


def test_a_slow_decline_is_found_most_of_the_time():
    """92% -> 78% in a straight line over 20 points of 35 cases."""
    rng = random.Random(5)
    rates = [0.92 - 0.14 * i / 19 for i in range(20)]
    found = [drift.rate_drift(history(rates, rng=rng), seed=i, resamples=199)
             for i in range(100)]
    assert sum(d.declined for d in found) >= 65
    assert sum(d.drop for d in found) / len(found) > 0.05


def test_a_step_in_the_last_five_points_is_found():
    rng = random.Random(6)
    rates = [0.92] * 15 + [0.78] * 5
    found = [drift.rate_drift(history(rates, rng=rng), seed=i, resamples=199)
             for i in range(60)]
    assert sum(d.declined for d in found) >= 50
    assert sum(d.after.start == 15 for d in found if d.declined) >= 40


def test_one_bad_point_is_not_a_decline_but_two_are():
    flat = [(35, 35)] * 40
    last = drift.rate_drift([*flat[:-1], (25, 35)])
    middle = drift.rate_drift([*flat[:20], (20, 35), *flat[21:]])
    first_good = drift.rate_drift([(35, 35), *[(30, 35)] * 39])
    assert (last.p, middle.p, first_good.p) == (1.0, 1.0, 1.0)
    assert not last.declined
    two = drift.rate_drift([*flat[:-2], (25, 35), (26, 35)])
    assert two.declined
    assert (two.after.start, two.after.end) == (38, 39)
    assert two.p < 0.01  # only 2 of the 780 placements of the two bad points are as bad


def test_a_rise_is_not_a_decline():
    d = drift.rate_drift([(20 + i, 35) for i in range(12)])
    assert d.p == 1.0 and not d.declined and d.drop < 0


# -- segments, edges, mean_drift --------------------------------------------------------

def test_segments_pool_their_points_with_wilson_intervals():
    counts = [(33, 35), (32, 35), (34, 35), (33, 35), (26, 35), (27, 35), (25, 35),
              (26, 35)]
    d = drift.rate_drift(counts)
    assert (d.before.start, d.before.end, d.after.start, d.after.end) == (0, 3, 4, 7)
    assert d.before.n == d.after.n == 140
    assert d.before.value == pytest.approx(132 / 140)
    ref = sp.binomtest(104, 140).proportion_ci(confidence_level=0.95, method="wilson")
    assert d.after.ci == pytest.approx((ref.low, ref.high))
    assert d.drop == pytest.approx((132 - 104) / 140)
    assert d.declined and d.significant(0.1) and not d.significant(0.25)


@pytest.mark.parametrize("counts", [[], [(3, 5)], [(3, 5), (4, 5), (2, 5)],
                                    [(0, 0)] * 6, [(3, 5), (0, 0), (4, 5), (0, 0), (1, 5)]])
def test_too_few_points_give_no_p_value(counts):
    d = drift.rate_drift(counts)
    assert d.p is None and d.before is None and d.after is None
    assert d.drop == 0.0 and not d.declined and not d.significant(0.0)
    assert "too few points" in drift.describe(d, [str(i) for i in range(len(counts))])


@pytest.mark.parametrize("rate", [(10, 10), (0, 10)])
def test_all_pass_or_all_fail_is_no_decline(rate):
    d = drift.rate_drift([rate] * 10)
    assert d.p == 1.0 and d.drop == 0.0 and not d.declined


def test_points_without_observations_are_skipped_but_keep_their_index():
    counts = [(9, 10), (0, 0), (10, 10), (9, 10), (10, 10), (0, 0), (3, 10), (2, 10),
              (4, 10), (3, 10)]
    d = drift.rate_drift(counts)
    assert (d.before.start, d.before.end, d.after.start, d.after.end) == (0, 4, 6, 9)
    assert d.before.n == 40


def test_mean_drift_on_per_point_scores():
    rng = random.Random(2)
    samples = [[min(1.0, max(0.0, rng.gauss(0.85 if i < 10 else 0.7, 0.1)))
                for _ in range(30)] for i in range(20)]
    d = drift.mean_drift(samples)
    assert d.declined and d.after.start == 10
    pooled = [x for s in samples[10:] for x in s]
    mean, lo, hi = stats.mean_interval([[x] for x in pooled])
    assert (d.after.value, d.after.ci, d.after.n) == (pytest.approx(mean), (lo, hi), 300)
    stable = [[rng.random() for _ in range(30)] for _ in range(20)]
    assert not drift.mean_drift(stable).declined
    assert drift.mean_drift([[], [0.5]]).p is None


def test_seeded_and_deterministic():
    rng = random.Random(9)
    counts = history([0.9] * 25, rng=rng, shock=0.4)
    assert drift.rate_drift(counts, seed=3) == drift.rate_drift(counts, seed=3)


# -- words and pictures -----------------------------------------------------------------

def test_describe_a_decline_in_the_contract_words():
    d = Drift("m", 0.004, 0.05, Segment(0, 4, 0.92, (0.85, 0.96), 175),
              Segment(5, 9, 0.78, (0.70, 0.85), 175))
    labels = ["x"] * 4 + ["a1b2c3 (Nov 3)", "d4e5f6 (Nov 20)"] + ["y"] * 4
    assert drift.describe(d, labels) == ("pass rate fell from 92% [85-96] to 78% [70-85] "
                                         "between a1b2c3 (Nov 3) and d4e5f6 (Nov 20): "
                                         "p = 0.004")
    tiny = Drift("m", 0.00001, 0.05, d.before, d.after, "mean")
    assert drift.describe(tiny, labels, "acc").startswith("acc fell from 0.92 [0.85-0.96]")
    assert drift.describe(tiny, labels, "acc").endswith(": p < 0.001")


def test_describe_no_decline():
    d = Drift("m", 0.4217, 0.05, Segment(0, 4, 0.90, (0.85, 0.94), 175),
              Segment(5, 9, 0.89, (0.84, 0.93), 175))
    text = drift.describe(d, [f"p{i}" for i in range(10)])
    assert text.startswith("no sustained decline in pass rate")
    assert "p = 0.42" in text and "90% [85-94]" in text


@pytest.mark.parametrize(("p", "text"), [(0.0042, "= 0.0042"), (0.05, "= 0.05"),
                                         (0.123, "= 0.12"), (1.0, "= 1"),
                                         (0.001, "= 0.001"), (0.00099, "< 0.001")])
def test_p_has_two_significant_digits(p, text):
    assert drift.format_p(p) == text


def test_sparkline():
    assert drift.sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert drift.sparkline([0.9, None, 0.5]) == "█ ▁"
    assert drift.sparkline([0.8, 0.8, 0.8]) == "▄▄▄"
    assert drift.sparkline([None, None]) == "  "
    assert drift.sparkline([]) == ""

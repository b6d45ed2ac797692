"""pass@k and pass^k: the estimators against brute-force enumeration of every k-subset
and scipy's binomials, their edge cases, the suite interval and the gate's verdicts."""

from __future__ import annotations

import itertools
import random

import pytest
from scipy.special import comb

from promptctl import passk, stats


def subsets(n: int, c: int, k: int) -> tuple[float, float]:
    """(any passes, all pass) over every k-subset of n samples whose first c passed."""
    outcomes = [i < c for i in range(n)]
    chosen = list(itertools.combinations(outcomes, k))
    return (sum(any(s) for s in chosen) / len(chosen),
            sum(all(s) for s in chosen) / len(chosen))


CASES = [(n, c, k) for n in range(1, 8) for c in range(n + 1) for k in range(1, n + 1)]


@pytest.mark.parametrize(("n", "c", "k"), CASES)
def test_estimators_equal_the_enumeration_of_every_subset(n, c, k):
    any_, all_ = subsets(n, c, k)
    assert passk.pass_at_k(n, c, k) == pytest.approx(any_, abs=1e-12)
    assert passk.pass_hat_k(n, c, k) == pytest.approx(all_, abs=1e-12)


@pytest.mark.parametrize(("n", "c", "k"), [(10, 3, 4), (20, 17, 5), (50, 25, 10), (200, 150, 30),
                                           (1000, 999, 100)])
def test_estimators_equal_scipy_binomials(n, c, k):
    assert passk.pass_at_k(n, c, k) == pytest.approx(
        1 - comb(n - c, k, exact=True) / comb(n, k, exact=True), rel=1e-12)
    assert passk.pass_hat_k(n, c, k) == pytest.approx(
        comb(c, k, exact=True) / comb(n, k, exact=True), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("n", [1, 2, 5, 13])
def test_edges(n):
    for k in range(1, n + 1):
        assert passk.pass_at_k(n, 0, k) == 0.0 and passk.pass_hat_k(n, 0, k) == 0.0
        assert passk.pass_at_k(n, n, k) == 1.0 and passk.pass_hat_k(n, n, k) == 1.0
    for c in range(n + 1):
        # k = 1 is the pass rate; k = n: any / all of the cell's own samples
        assert passk.pass_at_k(n, c, 1) == pytest.approx(c / n)
        assert passk.pass_hat_k(n, c, 1) == pytest.approx(c / n)
        assert passk.pass_at_k(n, c, n) == float(c > 0)
        assert passk.pass_hat_k(n, c, n) == float(c == n)
        for k in range(1, n + 1):
            assert passk.pass_hat_k(n, c, k) <= c / n + 1e-12 <= passk.pass_at_k(n, c, k) + 2e-12


@pytest.mark.parametrize(("n", "c", "k"), [(3, 4, 1), (3, -1, 1), (3, 1, 0), (3, 1, 4)])
def test_impossible_arguments_are_refused(n, c, k):
    with pytest.raises(ValueError):
        passk.pass_at_k(n, c, k)
    with pytest.raises(ValueError):
        passk.pass_hat_k(n, c, k)


def test_suite_estimate_is_the_mean_of_cells_with_the_metric_interval():
    cells = [(5, 5), (5, 4), (5, 0), (5, 3)]
    est = passk.suite_estimate(passk.PASS_HAT, cells, 3)
    values = [1.0, comb(4, 3) / comb(5, 3), 0.0, comb(3, 3) / comb(5, 3)]
    assert est.mean == pytest.approx(sum(values) / 4)
    assert (est.mean, est.lo, est.hi) == pytest.approx(stats.mean_interval([[v] for v in values]))
    assert est.lo < est.mean < est.hi and est.cells == 4 and est.label == "pass^3"
    assert passk.default_k(cells) == 5 and passk.default_k([(5, 1), (3, 0)]) == 3


def test_the_interval_covers_the_true_value_about_95_percent_of_the_time():
    """Suites of 30 cells whose true pass probabilities p are drawn from Beta(2, 1), each
    cell sampled 5 times. Over those cells, pass^3 is E[p^3] = 2/5 and pass@3 is
    1 - E[(1-p)^3] = 9/10. The interval over cells should cover them in about 95% of
    400 simulated suites (the padding of mean_interval makes it a little conservative),
    and stay far narrower than [0, 1]."""
    rng = random.Random(7)
    n, k, m, runs = 5, 3, 30, 400
    for measure, truth in ((passk.PASS_HAT, 0.4), (passk.PASS_AT, 0.9)):
        covered, width = 0, 0.0
        for _ in range(runs):
            probs = [rng.betavariate(2, 1) for _ in range(m)]
            cells = [(n, sum(rng.random() < p for _ in range(n))) for p in probs]
            est = passk.suite_estimate(measure, cells, k)
            covered += est.lo <= truth <= est.hi
            width += (est.hi - est.lo) / runs
        assert covered / runs >= 0.92, (measure, covered)
        assert width < 0.35, (measure, width)


def test_judge_fails_only_when_the_whole_interval_is_below():
    many_good = [(5, 5)] * 30
    assert passk.judge(passk.PASS_HAT, 0.9, 5, many_good).status == "pass"
    many_bad = [(5, 2)] * 30
    bad = passk.judge(passk.PASS_HAT, 0.9, 5, many_bad)
    assert bad.failed and bad.estimate is not None and bad.estimate.hi < 0.9
    assert "significantly below the gate 0.9" in bad.reason
    few = [(5, 5), (5, 4)]  # mean under 0.9, but two cells say little
    near = passk.judge(passk.PASS_HAT, 0.9, 5, few)
    assert near.status == "below" and not near.failed
    assert near.estimate is not None and near.estimate.mean < 0.9 <= near.estimate.hi
    short = passk.judge(passk.PASS_AT, 0.9, 5, [(5, 5), (3, 3)])
    assert short.failed and short.estimate is None and "--repeat 5" in short.reason
    assert passk.judge(passk.PASS_AT, 0.9, 5, []).status == "none"

"""Intervals never contradict the test beside them, and never pretend to a precision the
data lack: exhaustive small cases against scipy and brute-force enumeration, then the
issue's example through the real CLI."""

from __future__ import annotations

import itertools
import math
import random
import re

import numpy as np
import pytest
from scipy import stats as sps

from promptctl import stats
from promptctl.gate.compare import paired_differences

ALPHAS = (0.05, 0.1)


def tables(max_n: int):
    """Every paired pass/fail table (a, b, c, d) with 1 <= a+b+c+d <= max_n: a both
    pass, b only B passes, c only A passes, d both fail."""
    for n in range(1, max_n + 1):
        for a, b, c in itertools.product(range(n + 1), repeat=3):
            if a + b + c <= n:
                yield a, b, c, n - a - b - c


def values_of(a: int, b: int, c: int, d: int) -> list[tuple[float, float]]:
    """(A, B) per case."""
    return [(1.0, 1.0)] * a + [(0.0, 1.0)] * b + [(1.0, 0.0)] * c + [(0.0, 0.0)] * d


def brute_force_p(diffs: list[float]) -> float:
    """Two-sided sign-flip p-value by enumerating every sign vector."""
    observed = abs(sum(diffs))
    sums = [abs(sum(s * x for s, x in zip(signs, diffs, strict=True)))
            for signs in itertools.product((1, -1), repeat=len(diffs))]
    return sum(s >= observed - 1e-9 for s in sums) / len(sums)


def assert_agrees(d, alpha: float) -> None:
    contains = d.lo <= 0 <= d.hi
    assert contains == (not d.significant), (d, alpha)
    assert contains == (d.p_value > alpha), (d, alpha)
    assert -1 <= d.lo < d.hi <= 1, d  # never a single point
    assert d.lo <= d.diff <= d.hi, d


@pytest.mark.parametrize("alpha", ALPHAS)
def test_pass_rate_interval_agrees_with_the_exact_mcnemar_test_on_every_table(alpha):
    seen = significant = 0
    for a, b, c, d in tables(12):
        (diff,) = paired_differences([("pass rate", values_of(a, b, c, d))], alpha)
        ref = sps.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
        assert diff.p_value == pytest.approx(ref, rel=1e-12), (a, b, c, d)
        assert_agrees(diff, alpha)
        seen += 1
        significant += diff.significant
    assert seen == sum(math.comb(n + 3, 3) for n in range(1, 13))
    assert 0 < significant < seen


@pytest.mark.parametrize(("b", "c"), [(0, 1), (0, 6), (3, 9), (7, 2), (5, 5), (12, 0),
                                      (1, 30)])
def test_on_pass_fail_cases_the_share_is_the_clopper_pearson_interval(b, c):
    """The inverted test is Clopper-Pearson on the wins among the cases that changed."""
    low, high = stats._tilt_bounds((10**9,) * (b + c), (b - c) * 10**9, 0.05,
                                   stats.EXACT_INTERVAL_SUPPORT)
    ref = sps.binomtest(b, b + c).proportion_ci(0.95, method="exact")
    assert (1 + math.tanh(low)) / 2 == pytest.approx(ref.low, abs=1e-9)
    assert (1 + math.tanh(high)) / 2 == pytest.approx(ref.high, abs=1e-9)


@pytest.mark.parametrize("k", [0, 0.5, 1, 3.25, 7, 9.9, 10])
def test_clopper_pearson_matches_scipy_also_for_fractional_counts(k):
    lo, hi = stats.clopper_pearson(k, 10)
    assert lo == pytest.approx(sps.beta.ppf(0.025, k, 11 - k) if k else 0.0, abs=1e-9)
    assert hi == pytest.approx(sps.beta.ppf(0.975, k + 1, 10 - k) if k < 10 else 1.0,
                               abs=1e-9)


def test_metric_interval_agrees_with_the_sign_flip_test_on_every_small_grid():
    """Every multiset of per-case (A, B) scores in {0, 0.5, 1} for up to 6 cases."""
    grid = list(itertools.product((0.0, 0.5, 1.0), repeat=2))
    count = 0
    for n in range(1, 7):
        for combo in itertools.combinations_with_replacement(grid, n):
            diffs = [vb - va for va, vb in combo]
            p = brute_force_p(diffs)
            for alpha in ALPHAS:
                (d,) = paired_differences([("acc", list(combo))], alpha)
                assert d.p_value == pytest.approx(p, rel=1e-12), combo
                assert_agrees(d, alpha)
                count += 1
    assert count == 2 * sum(math.comb(9 + n - 1, n) for n in range(1, 7))


def test_two_cases_that_both_flip_cannot_be_told_apart_and_the_words_say_so():
    for n in range(1, 6):  # 2 / 2^5 = 0.0625: five changed cases can never reach 0.05
        (d,) = paired_differences([("pass rate", values_of(0, 0, n, 0))], 0.05)
        assert d.diff == -1 and d.p_value == pytest.approx(2 / 2**n if n > 1 else 1.0)
        assert d.lo == -1 and d.hi > 0
        assert "too few cases to tell" in d.verdict() and "fewer than 6" in d.verdict()
    (six,) = paired_differences([("pass rate", values_of(0, 0, 6, 0))], 0.05)
    assert six.significant and six.hi < 0 and not six.note
    assert stats.cases_needed(0.05) == 6 and stats.cases_needed(0.1) == 5


@pytest.mark.parametrize("alpha", ALPHAS)
def test_intervals_agree_with_holm_over_two_measures(alpha):
    """A measure significant alone but not after Holm gets a wider interval that holds 0."""
    tight = 0
    for (b1, c1), (b2, c2) in itertools.product(
            [(b, c) for b in range(9) for c in range(9 - b)], repeat=2):
        first = values_of(0, b1, c1, 8 - b1 - c1)
        second = values_of(0, b2, c2, 8 - b2 - c2)
        diffs = paired_differences([("pass rate", first), ("acc", second)], alpha)
        for d in diffs:
            contains = d.lo <= 0 <= d.hi
            assert contains == (not d.significant), (b1, c1, b2, c2, d)
            tight += d.ci_alpha < alpha
            if d.ci_alpha < alpha:
                assert d.p_value <= alpha < d.adjusted and "CI" in d.interval()
                assert d.interval().split(", ")[1].startswith(
                    f"{(1 - alpha / 2) * 100:g}% CI")
    assert tight > 0  # the case the wider level exists for does occur


def test_large_samples_use_a_normal_approximation_that_still_agrees():
    rng = random.Random(3)
    for _ in range(6):
        n = rng.choice([20, 25])
        shift = rng.uniform(-0.15, 0.15)
        diffs = [max(-1.0, min(1.0, rng.gauss(shift, 0.3))) for _ in range(n)]
        for alpha in ALPHAS:
            (d,) = paired_differences([("acc", [(0.5, 0.5 + x) for x in diffs])], alpha)
            assert_agrees(d, alpha)
    # and close to the exact inversion where both can be computed
    diffs = [0.31, -0.12, 0.4, 0.05, 0.22, -0.3, 0.17, 0.26, 0.09, 0.35, -0.05, 0.14]
    exact = stats.paired_interval(diffs, 0.05)
    approx = stats.paired_interval(diffs, 0.05, max_support=10)
    assert approx == pytest.approx(exact, abs=0.03)


# -- suite-level intervals: a run's metrics -------------------------------------------------
def test_metric_interval_of_identical_cases_is_not_a_point():
    """Every case scoring the same used to print [1.00, 1.00]: now it is as wide as the
    evidence of that many cases, close to the exact interval for a pass rate."""
    for m in (1, 2, 4, 10, 40):
        for value in (0.0, 0.5, 1.0):
            for repeats in (1, 3):
                mean, lo, hi = stats.mean_interval([[value] * repeats] * m)
                assert mean == value and lo < hi and 0 <= lo <= value <= hi <= 1
        mean, lo, hi = stats.mean_interval([[1.0]] * m)
        cp_low = sps.binomtest(m, m).proportion_ci(0.95, method="exact").low
        assert cp_low - 0.2 <= lo <= cp_low + 0.05  # never bolder than the exact one
    # repeats of a case are one cluster: five identical samples are one case
    assert stats.mean_interval([[1.0] * 5] * 4) == stats.mean_interval([[1.0]] * 4)


def test_metric_interval_on_small_grids_holds_the_mean_and_stays_in_range():
    for m in range(1, 6):
        for combo in itertools.combinations_with_replacement((0.0, 0.25, 0.5, 1.0), m):
            mean, lo, hi = stats.mean_interval([[x] for x in combo])
            assert mean == pytest.approx(np.mean(combo))
            assert 0 <= lo <= mean <= hi <= 1 and lo < hi, combo


def test_metric_interval_approaches_the_t_interval_with_many_cases():
    rng = np.random.default_rng(5)
    scores = np.clip(rng.normal(0.6, 0.2, 3000), 0, 1)
    mean, lo, hi = stats.mean_interval([[float(x)] for x in scores])
    ref = sps.ttest_1samp(scores, 0.0).confidence_interval(0.95)
    assert hi - lo == pytest.approx(ref.high - ref.low, rel=0.05)
    assert mean == pytest.approx(float(np.mean(scores)))


# -- the reported example, through the real CLI ----------------------------------------------
PROMPTS = """
prompts:
  good: {template: "yes {{ q }}"}
  bad: {template: "no {{ q }}"}
"""


def flip_project(make_project, cases: int):
    rows = "".join(f"  - {{id: c{i}, vars: {{q: q{i}}}, "
                   f"assert: [{{type: icontains, value: 'yes'}}]}}\n" for i in range(cases))
    make_project({"promptctl.yaml": "models:\n  e: {provider: echo}\n",
                  "prompts/p.yaml": PROMPTS,
                  "suites/s.yaml": f"prompts: [p.good]\nmodels: [e]\ncases:\n{rows}"})


def interval_of(text: str) -> tuple[int, int]:
    found = re.search(r"95% CI ([+-]\d+)\.\.([+-]\d+)", text)
    assert found, text
    return int(found[1]), int(found[2])


def test_compare_of_two_cases_that_both_flip_says_no_difference_with_0_inside(
        make_project, cli):
    flip_project(make_project, 2)
    result = cli("compare", "p.good", "p.bad", "-o", "c.json")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())  # the terminal wraps long lines
    assert "no detectable difference on pass rate" in out and "(p=0.5)" in out
    assert "-100 points, 95% CI -100..+" in out
    lo, hi = interval_of(out)
    assert lo <= 0 <= hi
    assert "too few cases to tell: 2 changed" in out
    assert out.endswith("no detectable difference with these samples")


def test_compare_of_six_cases_that_all_flip_is_significant_with_0_outside(
        make_project, cli):
    flip_project(make_project, 6)
    result = cli("compare", "p.good", "p.bad")
    assert result.exit_code == 0, result.output
    assert "B is worse on pass rate: -100 points, 95% CI -100..-" in result.stdout
    lo, hi = interval_of(result.stdout)
    assert lo < hi < 0 and "(p=0.031)" in result.stdout  # the t interval was -100..-100

"""Judge agreement: kappa against scikit-learn, its standard error against the delta
method computed by brute force, the interval's coverage by simulation, the degenerate
cases, the min_kappa gate and the paired comparison of two judges."""

from __future__ import annotations

import math
import random

import pytest
from sklearn.metrics import cohen_kappa_score

from promptctl import agreement
from promptctl.agreement import Confusion, compare_judges, confusion, kappa, kappa_below


def random_pairs(rng, n, p_human=0.6, accuracy=0.8):
    humans = [rng.random() < p_human for _ in range(n)]
    return [(h if rng.random() < accuracy else not h, h) for h in humans]


def delta_method_se(table: Confusion) -> float:
    """Kappa's large-sample SE by the delta method under multinomial sampling, with a
    numerical gradient: what the FCE (1969) formula is a closed form of."""
    n = table.n
    p = [table.pp / n, table.pf / n, table.fp / n, table.ff / n]

    def k(q):
        s = sum(q)
        pp, pf, fp, ff = (x / s for x in q)
        po = pp + ff
        pe = (pp + pf) * (pp + fp) + (fp + ff) * (pf + ff)
        return (po - pe) / (1 - pe)

    h = 1e-6
    grad = []
    for i in range(4):
        up = list(p)
        dn = list(p)
        up[i] += h
        dn[i] -= h
        grad.append((k(up) - k(dn)) / (2 * h))
    var = sum(grad[i] * grad[j] * ((p[i] if i == j else 0.0) - p[i] * p[j])
              for i in range(4) for j in range(4)) / n
    return math.sqrt(var)


def test_confusion_counts_each_kind():
    pairs = [(True, True)] * 3 + [(True, False)] * 2 + [(False, True)] + [(False, False)] * 4
    assert confusion(pairs) == Confusion(pp=3, pf=2, fp=1, ff=4)
    assert confusion(pairs).n == 10
    assert confusion(pairs).rows() == ((3, 2), (1, 4))


def test_kappa_matches_sklearn_on_random_tables():
    rng = random.Random(7)
    checked = 0
    for _ in range(300):
        n = rng.randint(2, 200)
        pairs = random_pairs(rng, n, rng.uniform(0.05, 0.95), rng.uniform(0.2, 1.0))
        k = kappa(pairs)
        judge = [j for j, _ in pairs]
        human = [h for _, h in pairs]
        if len(set(judge)) == 1 and len(set(human)) == 1 and judge[0] == human[0]:
            assert k.kappa is None
            continue
        ref = cohen_kappa_score(judge, human)
        assert k.kappa == pytest.approx(ref, abs=1e-12)
        assert k.agreement == pytest.approx(sum(j == h for j, h in pairs) / n)
        checked += 1
    assert checked > 250


def test_hand_computed_example():
    # judge pass/human pass 40, pass/fail 10, fail/pass 5, fail/fail 45 (n = 100):
    # po = .85, pe = .5*.45 + .5*.55 = .5, kappa = .7
    pairs = [(True, True)] * 40 + [(True, False)] * 10 + [(False, True)] * 5 \
        + [(False, False)] * 45
    k = kappa(pairs)
    assert k.agreement == pytest.approx(0.85)
    assert k.kappa == pytest.approx(0.7)
    # FCE eq. 14 by hand: A = .40*(1-.95*.3)^2 + .45*(1-1.05*.3)^2
    a = 0.40 * (1 - 0.95 * 0.3) ** 2 + 0.45 * (1 - 1.05 * 0.3) ** 2
    b = 0.3 ** 2 * (0.10 * (0.45 + 0.5) ** 2 + 0.05 * (0.55 + 0.5) ** 2)
    c = (0.7 - 0.5 * 0.3) ** 2
    assert k.se == pytest.approx(math.sqrt((a + b - c) / 100) / 0.5, rel=1e-12)
    lo, hi = k.ci
    assert lo == pytest.approx(0.7 - 1.959963984540054 * k.se)
    assert hi == pytest.approx(0.7 + 1.959963984540054 * k.se)


def test_se_matches_the_delta_method_on_random_tables():
    rng = random.Random(11)
    for _ in range(200):
        pairs = random_pairs(rng, rng.randint(20, 300), rng.uniform(0.2, 0.8),
                             rng.uniform(0.4, 1.0))
        k = kappa(pairs)
        if k.ci is None:
            continue
        assert k.se == pytest.approx(delta_method_se(k.confusion), rel=1e-4, abs=1e-9)


def test_interval_is_clipped_to_minus_one_one():
    pairs = [(True, True)] * 9 + [(False, False)] * 9 + [(True, False)]
    k = kappa(pairs)
    assert k.ci is not None
    assert -1.0 <= k.ci[0] <= k.kappa <= k.ci[1] <= 1.0
    assert k.ci[1] == 1.0


@pytest.mark.parametrize("n,p_human,accuracy", [(200, 0.5, 0.8), (400, 0.3, 0.85)])
def test_interval_covers_true_kappa_about_95_percent(n, p_human, accuracy):
    # the population table: true kappa from the cell probabilities
    pp = p_human * accuracy
    fp = p_human * (1 - accuracy)
    pf = (1 - p_human) * (1 - accuracy)
    ff = (1 - p_human) * accuracy
    pe = (pp + pf) * (pp + fp) + (fp + ff) * (pf + ff)
    true = (pp + ff - pe) / (1 - pe)
    rng = random.Random(2026)
    runs = 400
    covered = 0
    for _ in range(runs):
        k = kappa(random_pairs(rng, n, p_human, accuracy))
        assert k.ci is not None
        covered += k.ci[0] <= true <= k.ci[1]
    # 95% of 400: binomial sd ~ 4.4 runs; allow about 3 sd either side
    assert 0.915 <= covered / runs <= 0.985


def test_no_pairs():
    k = kappa([])
    assert (k.n, k.agreement, k.kappa, k.ci) == (0, None, None, None)
    assert k.reason == "no labelled outputs"
    assert not kappa_below(k, 0.6)


def test_both_raters_one_class_is_undefined():
    k = kappa([(True, True)] * 12)
    assert k.kappa is None and k.ci is None
    assert k.agreement == 1.0
    assert "undefined" in k.reason
    assert not kappa_below(k, 0.6)


def test_a_constant_judge_has_kappa_zero_and_no_interval():
    pairs = [(True, True)] * 7 + [(True, False)] * 5
    k = kappa(pairs)
    assert k.kappa == pytest.approx(cohen_kappa_score([True] * 12, [True] * 7 + [False] * 5))
    assert k.kappa == 0.0
    assert k.ci is None
    assert k.reason.startswith("the judge gives every output the same verdict")
    assert not kappa_below(k, 0.6)


def test_kappa_below_is_one_sided_on_the_upper_bound():
    rng = random.Random(3)
    poor = kappa(random_pairs(rng, 300, 0.5, 0.7))  # true kappa 0.4
    assert poor.kappa < 0.55
    assert kappa_below(poor, 0.6)
    assert not kappa_below(poor, 0.2)
    # the upper bound is kappa + z(1 - alpha) se: test right at the boundary
    upper = poor.kappa + 1.6448536269514722 * poor.se
    assert kappa_below(poor, upper + 1e-9)
    assert not kappa_below(poor, upper - 1e-9)
    # a smaller alpha widens the bound, so it fires less readily
    upper_01 = poor.kappa + 2.3263478740408408 * poor.se
    assert not kappa_below(poor, (upper + upper_01) / 2, alpha=0.01)
    assert kappa_below(poor, (upper + upper_01) / 2, alpha=0.05)
    good = kappa(random_pairs(rng, 300, 0.5, 0.95))
    assert not kappa_below(good, 0.6)


def test_kappa_below_with_few_pairs_does_not_fire_on_a_noisy_estimate():
    rng = random.Random(5)
    small = kappa(random_pairs(rng, 12, 0.5, 0.75))
    assert small.ci is not None
    assert small.ci[1] - small.ci[0] > 0.5
    assert not kappa_below(small, 0.6)


def test_compare_same_judge_gives_p_one():
    rng = random.Random(9)
    pairs = random_pairs(rng, 150)
    diff, ci, p = compare_judges(pairs, pairs)
    assert diff == 0.0 and ci == (0.0, 0.0) and p == 1.0


def test_compare_clearly_better_judge_gives_small_p():
    rng = random.Random(10)
    humans = [rng.random() < 0.5 for _ in range(300)]
    a = [(h if rng.random() < 0.95 else not h, h) for h in humans]
    b = [(h if rng.random() < 0.70 else not h, h) for h in humans]
    diff, ci, p = compare_judges(a, b, seed=1)
    assert diff == pytest.approx(kappa(a).kappa - kappa(b).kappa)
    assert diff > 0.3
    assert ci[0] > 0 and ci[0] < diff < ci[1]
    assert p < 0.01
    rev = compare_judges(b, a, seed=1)
    assert rev.diff == pytest.approx(-diff) and rev.p < 0.01


def test_compare_equally_good_judges_rarely_differ():
    # false-alarm rate of the paired test at alpha = 0.05 when the judges are exchangeable
    rng = random.Random(12)
    runs, alarms = 100, 0
    for _ in range(runs):
        humans = [rng.random() < 0.5 for _ in range(80)]
        a = [(h if rng.random() < 0.8 else not h, h) for h in humans]
        b = [(h if rng.random() < 0.8 else not h, h) for h in humans]
        alarms += compare_judges(a, b, seed=rng.randrange(1000), resamples=500).p <= 0.05
    assert alarms <= 12


def test_compare_is_deterministic_and_seeded():
    rng = random.Random(13)
    humans = [rng.random() < 0.5 for _ in range(60)]
    a = [(h if rng.random() < 0.85 else not h, h) for h in humans]
    b = [(h if rng.random() < 0.75 else not h, h) for h in humans]
    assert compare_judges(a, b, seed=4) == compare_judges(a, b, seed=4)
    assert compare_judges(a, b, seed=4).ci != compare_judges(a, b, seed=5).ci


def test_compare_rejects_different_outputs():
    with pytest.raises(ValueError, match="different numbers"):
        compare_judges([(True, True)], [])
    with pytest.raises(ValueError, match="two different human labels"):
        compare_judges([(True, True), (False, False)], [(True, True), (False, True)])


def test_compare_undefined_kappa_gives_none():
    same = [(True, True)] * 10
    assert compare_judges(same, same) == (None, None, None)


def test_binomial_draws_have_the_right_moments():
    rng = random.Random(14)
    for n, p in [(1000, 0.3), (20, 0.2), (500, 0.9), (5, 0.5)]:
        xs = [agreement._binomial(n, p, rng) for _ in range(20000)]
        mean = sum(xs) / len(xs)
        var = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)
        assert mean == pytest.approx(n * p, rel=0.02, abs=0.05)
        assert var == pytest.approx(n * p * (1 - p), rel=0.06)
        assert all(0 <= x <= n for x in xs)
    draw = agreement._multinomial(100, [0.5, 0.0, 0.25, 0.25], rng)
    assert sum(draw) == 100 and draw[1] == 0


def test_perfect_agreement_has_kappa_one_and_no_interval():
    pairs = [(True, True)] * 8 + [(False, False)] * 4
    k = kappa(pairs)
    assert k.kappa == pytest.approx(1.0) and k.se == 0.0 and k.ci is None
    assert k.reason.startswith("judge and reviewer agree on every output")
    assert not kappa_below(k, 0.6)
    opposite = kappa([(True, False)] * 6 + [(False, True)] * 6)
    assert opposite.kappa == pytest.approx(-1.0) and opposite.ci is None
    assert opposite.reason.startswith("judge and reviewer disagree on every output")

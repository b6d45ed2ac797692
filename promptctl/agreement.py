"""Judge agreement: how well a model-graded assertion's verdicts match human labels.

Owns the numbers of `calibrate` (issue 17, item 4): `confusion` (the 2x2 table),
`kappa` (observed agreement, Cohen's kappa, its interval), `kappa_below` (the
`min_kappa:` gate) and `compare_judges` (two judges on the same labelled outputs, a
paired bootstrap). Pure computation in plain Python, no I/O; stdlib only.

A pair is (judge verdict, human verdict), both bools (True = pass). Invariants:

- `kappa` equals scikit-learn's `cohen_kappa_score` wherever that is defined and not
  degenerate (the tests check it on many random tables);
- kappa is None, never a guess, when it is undefined: no pairs, or both raters give
  one and the same class (chance agreement is 1). When only one rater is constant,
  kappa is 0 (as scikit-learn says) but the interval is None: the large-sample
  standard error is 0 there, and a zero-width interval would be a lie. The same holds
  when every output agrees (kappa 1) or every one disagrees (kappa -1);
- the interval is the large-sample one of Fleiss, Cohen and Everitt (1969), clipped to
  [-1, 1]; `kappa_below` fires only on a defined interval whose upper bound is below
  `min_kappa` (one-sided at level alpha);
- deterministic for a given seed; `compare_judges` on 10,000 pairs takes well under a
  second (a resample is a multinomial draw over the 8 kinds of output, not n draws).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from promptctl.stats import z

RESAMPLES = 2000  # bootstrap resamples of compare_judges (p-values down to 1/2001)

Pair = tuple[bool, bool]  # (judge verdict, human verdict)


@dataclass(frozen=True)
class Confusion:
    """Counts of (judge, human): `pp` both pass, `pf` judge pass / human fail, ..."""

    pp: int
    pf: int
    fp: int
    ff: int

    @property
    def n(self) -> int:
        return self.pp + self.pf + self.fp + self.ff

    def rows(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """[[judge pass & human pass, judge pass & human fail], [judge fail & ...]]."""
        return ((self.pp, self.pf), (self.fp, self.ff))


@dataclass(frozen=True)
class Kappa:
    n: int
    agreement: float | None  # observed agreement (share of pairs that agree); None if n = 0
    kappa: float | None  # Cohen's kappa; None when undefined (see `reason`)
    ci: tuple[float, float] | None  # two-sided 1 - alpha interval, clipped to [-1, 1]
    se: float | None  # large-sample standard error (Fleiss, Cohen & Everitt 1969)
    confusion: Confusion
    alpha: float
    reason: str | None = None  # why kappa or its interval is missing, in words


def confusion(pairs: Sequence[Pair]) -> Confusion:
    pp = pf = fp = ff = 0
    for judge, human in pairs:
        if judge:
            if human:
                pp += 1
            else:
                pf += 1
        elif human:
            fp += 1
        else:
            ff += 1
    return Confusion(pp, pf, fp, ff)


def _kappa_se(table: Confusion) -> tuple[float | None, float | None]:
    """(kappa, standard error) from the counts; kappa None when chance agreement is 1."""
    n = table.n
    if n == 0:
        return None, None
    p = [[c / n for c in row] for row in table.rows()]
    row = [p[0][0] + p[0][1], p[1][0] + p[1][1]]  # the judge's margins
    col = [p[0][0] + p[1][0], p[0][1] + p[1][1]]  # the human's margins
    po = p[0][0] + p[1][1]
    pe = row[0] * col[0] + row[1] * col[1]
    if pe >= 1.0 - 1e-15:
        return None, None
    k = (po - pe) / (1.0 - pe)
    # Fleiss, Cohen & Everitt (1969), eq. 14: the variance of kappa when kappa != 0.
    a = sum(p[i][i] * (1.0 - (row[i] + col[i]) * (1.0 - k)) ** 2 for i in (0, 1))
    b = (1.0 - k) ** 2 * sum(p[i][j] * (col[i] + row[j]) ** 2
                             for i in (0, 1) for j in (0, 1) if i != j)
    c = (k - pe * (1.0 - k)) ** 2
    var = max(a + b - c, 0.0) / (n * (1.0 - pe) ** 2)
    return k, math.sqrt(var)


def kappa(pairs: Sequence[Pair], alpha: float = 0.05) -> Kappa:
    table = confusion(pairs)
    n = table.n
    if n == 0:
        return Kappa(0, None, None, None, None, table, alpha, "no labelled outputs")
    agreement = (table.pp + table.ff) / n
    k, se = _kappa_se(table)
    if k is None:
        return Kappa(n, agreement, None, None, None, table, alpha,
                     "judge and reviewer give every output the same verdict: kappa is undefined")
    judge_constant = table.pp + table.pf in (0, n)
    human_constant = table.pp + table.fp in (0, n)
    if judge_constant or human_constant:
        who = "the judge" if judge_constant else "the reviewer"
        return Kappa(n, agreement, k, None, se, table, alpha,
                     f"{who} gives every output the same verdict: kappa is 0, with no interval")
    if se is None or se <= 0.0:  # every output agrees (kappa 1) or every one disagrees
        what = "agree" if agreement == 1.0 else "disagree"
        return Kappa(n, agreement, k, None, se, table, alpha,
                     f"judge and reviewer {what} on every output: the large-sample standard "
                     "error is 0, so there is no interval")
    half = z(1.0 - alpha / 2.0) * se
    ci = (max(-1.0, k - half), min(1.0, k + half))
    return Kappa(n, agreement, k, ci, se, table, alpha)


def kappa_below(k: Kappa, min_kappa: float, alpha: float = 0.05) -> bool:
    """Is kappa significantly below `min_kappa`: the one-sided 1 - alpha upper bound
    (the upper end of the two-sided 1 - 2 alpha interval) is below it. False when kappa
    or its standard error is undefined: that is reported, not gated (see `Kappa.reason`).
    """
    if k.kappa is None or k.se is None or k.se <= 0.0 or k.ci is None:
        return False
    upper = min(1.0, k.kappa + z(1.0 - alpha) * k.se)
    return upper < min_kappa


class Comparison(NamedTuple):
    diff: float | None  # kappa_A - kappa_B on the full sample; None if either is undefined
    ci: tuple[float, float] | None  # percentile bootstrap interval (1 - alpha)
    p: float | None  # two-sided bootstrap p-value for "kappa_A = kappa_B"


def compare_judges(a_pairs: Sequence[Pair], b_pairs: Sequence[Pair], *, seed: int = 0,
                   alpha: float = 0.05, resamples: int = RESAMPLES) -> Comparison:
    """Judges A and B on the SAME outputs (a_pairs[i] and b_pairs[i] share output i and
    its human label). Resamples outputs with replacement, keeping each output's three
    verdicts together, and recomputes both kappas on each resample. Resamples where
    either kappa is undefined are left out. p = 2 min(share of resampled differences
    <= 0, share >= 0), with the +1 correction, at most 1: the same judge twice gives p = 1.
    """
    if len(a_pairs) != len(b_pairs):
        raise ValueError(f"judges rated different numbers of outputs: {len(a_pairs)} vs "
                         f"{len(b_pairs)}")
    counts = [0] * 8  # index = 4 * judge A + 2 * judge B + human
    for i, ((ja, ha), (jb, hb)) in enumerate(zip(a_pairs, b_pairs, strict=True)):
        if bool(ha) != bool(hb):
            raise ValueError(f"output {i} has two different human labels: the pairs must "
                             "be the same labelled outputs in the same order")
        counts[4 * bool(ja) + 2 * bool(jb) + bool(ha)] += 1
    observed = _diff(counts)
    if observed is None:
        return Comparison(None, None, None)
    n = len(a_pairs)
    probs = [c / n for c in counts]
    rng = random.Random(seed)
    diffs: list[float] = []
    for _ in range(resamples):
        d = _diff(_multinomial(n, probs, rng))
        if d is not None:
            diffs.append(d)
    if not diffs:
        return Comparison(observed, None, None)
    diffs.sort()
    m = len(diffs)
    lo = diffs[max(0, math.floor(alpha / 2 * m))]
    hi = diffs[min(m - 1, math.ceil((1 - alpha / 2) * m) - 1)]
    le = sum(1 for d in diffs if d <= 1e-12)
    ge = sum(1 for d in diffs if d >= -1e-12)
    p = min(1.0, 2.0 * (1 + min(le, ge)) / (m + 1))
    return Comparison(observed, (lo, hi), p)


def _diff(counts: Sequence[int]) -> float | None:
    a = Confusion(*(counts[4 + h] + counts[6 + h] if j else counts[h] + counts[2 + h]
                    for j, h in ((1, 1), (1, 0), (0, 1), (0, 0))))
    b = Confusion(*(counts[2 + h] + counts[6 + h] if j else counts[h] + counts[4 + h]
                    for j, h in ((1, 1), (1, 0), (0, 1), (0, 0))))
    ka, _ = _kappa_se(a)
    kb, _ = _kappa_se(b)
    if ka is None or kb is None:
        return None
    return ka - kb


def _multinomial(n: int, probs: Sequence[float], rng: random.Random) -> list[int]:
    """One multinomial draw by conditional binomials (O(categories), not O(n))."""
    out = []
    left, mass = n, 1.0
    for p in probs[:-1]:
        k = _binomial(left, min(1.0, p / mass), rng) if left and mass > 0 else 0
        out.append(k)
        left -= k
        mass -= p
    out.append(left)
    return out


def _binomial(n: int, p: float, rng: random.Random) -> int:
    """A binomial draw: the algorithm of CPython 3.12's `binomialvariate` (geometric
    skips for small n p, Hormann's BTRS rejection otherwise), here for Python 3.10+."""
    if p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - _binomial(n, 1.0 - p, rng)
    if n * p < 10.0:
        x = y = 0
        c = math.log2(1.0 - p)
        while True:
            y += math.floor(math.log2(1.0 - rng.random()) / c) + 1
            if y > n:
                return x
            x += 1
    spq = math.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    vr = 0.92 - 4.2 / b
    alpha = (2.83 + 5.1 / b) * spq
    lpq = math.log(p / (1.0 - p))
    m = math.floor((n + 1) * p)
    h = math.lgamma(m + 1) + math.lgamma(n - m + 1)
    while True:
        u = rng.random() - 0.5
        v = rng.random()
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + c)
        if k < 0 or k > n:
            continue
        if us >= 0.07 and v <= vr:
            return k
        v = math.log(v * alpha / (a / (us * us) + b))
        if v <= h - math.lgamma(k + 1) - math.lgamma(n - k + 1) + (k - m) * lpq:
            return k

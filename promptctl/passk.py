"""pass@k and pass^k: how a cell that is sampled n times behaves over k tries.

- `pass_at_k(n, c, k)`: the chance that at least one of k samples drawn without
  replacement from the cell's n (c of which passed) passes: 1 - C(n-c, k) / C(n, k),
  the unbiased estimator of Chen et al. 2021 (HumanEval; Inspect AI's `pass_at_k`).
- `pass_hat_k(n, c, k)`: the chance that all k pass: C(c, k) / C(n, k), the unbiased
  estimator of tau-bench's pass^k (Yao et al. 2024).
- `suite_estimate`: either measure averaged over a suite's cells, with a 95% interval
  over cells (the cells are the clusters: stats.mean_interval on one value per cell,
  the interval every named metric gets).
- `judge`: a suite's estimate against a `gate:` threshold, noise-aware: a gate fails
  only when the interval's upper end is below the threshold; a point estimate below it
  whose interval reaches it is "below" (said, never failed).

Invariants: k = 1 gives the cell's pass rate for both measures; pass^k <= pass rate
<= pass@k; the binomials are exact integers (math.comb) divided once, so a large n
neither overflows nor loses precision in a product of ratios. Pure: no I/O, stdlib and
stats only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from . import stats

PASS_AT = "pass@k"  # any of k samples passes
PASS_HAT = "pass^k"  # all k samples pass
MEASURES = (PASS_AT, PASS_HAT)


def _check(n: int, c: int, k: int) -> None:
    if not 0 <= c <= n:
        raise ValueError(f"passes c={c} must be between 0 and the samples n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be between 1 and the samples n={n}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 - C(n-c, k) / C(n, k): P(at least one of k samples passes)."""
    _check(n, c, k)
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """C(c, k) / C(n, k): P(all k samples pass)."""
    _check(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


ESTIMATORS = {PASS_AT: pass_at_k, PASS_HAT: pass_hat_k}


def name(measure: str, k: int) -> str:
    """"pass^k" at k=3 -> "pass^3"."""
    return measure[:-1] + str(k)


@dataclass(frozen=True)
class Estimate:
    """One measure over a suite's cells: mean and 95% interval over cells."""

    measure: str  # PASS_AT | PASS_HAT
    k: int
    cells: int
    mean: float
    lo: float
    hi: float

    @property
    def label(self) -> str:
        return name(self.measure, self.k)

    def describe(self) -> str:
        return f"{self.label} {self.mean:.0%} [{self.lo:.0%}, {self.hi:.0%}]"

    def to_dict(self) -> dict[str, float | list[float]]:
        return {"mean": round(self.mean, 4), "ci": [round(self.lo, 4), round(self.hi, 4)]}


def per_cell(measure: str, cells: Sequence[tuple[int, int]], k: int) -> list[float]:
    """The measure of every cell given as (n, c); every n must be at least k."""
    fn = ESTIMATORS[measure]
    return [fn(n, c, k) for n, c in cells]


def suite_estimate(measure: str, cells: Sequence[tuple[int, int]], k: int,
                   alpha: float = 0.05) -> Estimate:
    """The measure averaged over cells (n, c), each cell one cluster of one value."""
    values = per_cell(measure, cells, k)
    mean, lo, hi = stats.mean_interval([[v] for v in values], alpha)
    return Estimate(measure, k, len(values), mean, lo, hi)


def default_k(cells: Sequence[tuple[int, int]]) -> int:
    """The k a suite is reported at: its cells' common sample count, or the smallest."""
    return min((n for n, _ in cells), default=0)


@dataclass(frozen=True)
class Verdict:
    """A `gate:` threshold against the run: status "pass" (the estimate reaches it),
    "below" (the estimate is under it but the interval reaches it: not significant),
    "fail" (the whole interval is under it), "fail" with no estimate when the run
    has fewer than k samples of some cell, "none" when no cell was scored."""

    measure: str
    k: int
    threshold: float
    estimate: Estimate | None
    status: str
    reason: str

    @property
    def failed(self) -> bool:
        return self.status == "fail"


def judge(measure: str, threshold: float, k: int, cells: Sequence[tuple[int, int]]
          ) -> Verdict:
    """`cells` as (n, c) for every cell of the suite in the run."""
    label = name(measure, k)
    if not cells:
        return Verdict(measure, k, threshold, None, "none",
                       f"{label} >= {threshold:g} asked, but no cell was scored")
    short = min(n for n, _ in cells)
    if short < k:
        return Verdict(measure, k, threshold, None, "fail",
                       f"{label} >= {threshold:g} needs {k} samples of every cell; "
                       f"the smallest has {short} (run with --repeat {k} or more)")
    est = suite_estimate(measure, cells, k)
    where = f"{est.describe()} over {est.cells} cells"
    if est.hi < threshold:
        return Verdict(measure, k, threshold, est, "fail",
                       f"{where}: significantly below the gate {threshold:g}")
    if est.mean < threshold:
        return Verdict(measure, k, threshold, est, "below",
                       f"{where}: below the gate {threshold:g}, but the interval "
                       "reaches it (not significant)")
    return Verdict(measure, k, threshold, est, "pass", f"{where}: meets the gate {threshold:g}")

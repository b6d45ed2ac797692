"""A suite's `gate:` on pass^k and pass@k (schema.Gate, docs/passk.md), in a check.

Two questions per threshold the suite declares, at k = the gate's `k` or the run's
smallest number of samples per cell:

- against the threshold: promptctl.passk.judge over the run's cells. The suite fails
  only when the 95% interval over cells lies wholly below the threshold; an estimate
  below it whose interval reaches it is reported ("below"), never failed. These sit
  outside the Holm family: each is a confidence statement about one declared number,
  like a pass-rate interval, not a search over many comparisons. A run with fewer than
  k samples of some cell fails the gate, saying which --repeat it needs.
- against the baseline, when its cells have at least k samples too: the per-cell
  pass^k (pass@k) before and after, paired by cell, go through the one-sided sign-flip
  test that `verdicts.suite_hypotheses` uses for a named metric's per-cell means. The
  test joins the suite-level family as one more Hypothesis, so Holm's correction,
  `max_drop` and the regression wording are verdicts.decide's, unchanged.

Cells that errored are left out: their suite already has no verdict (exit 3).
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from .. import passk, stats
from .outcome import CellDiff, Hypothesis, SuiteDiff

if TYPE_CHECKING:
    from ..schema import Gate


def thresholds(gate: Gate) -> list[tuple[str, float]]:
    """The (measure, threshold) pairs a gate declares, pass^k first."""
    out = [(passk.PASS_HAT, gate.pass_hat_k), (passk.PASS_AT, gate.pass_at_k)]
    return [(m, t) for m, t in out if t is not None]


def evaluate(gate: Gate | None, result: SuiteDiff) -> None:
    """Attach the gate's verdicts to `result.gate` and its baseline tests to
    `result.hypotheses` (decided later, with the others, by verdicts.decide)."""
    if gate is None:
        return
    scored = [c for c in result.cells if c.after is not None and c.status != "error"]
    cells = [(len(c.after.samples), c.after.pass_count) for c in scored if c.after]
    k = gate.k or passk.default_k(cells) or 1
    for measure, threshold in thresholds(gate):
        result.gate.append(passk.judge(measure, threshold, k, cells))
        if result.has_baseline and k >= 2:
            h = _against_baseline(result.suite, measure, k, scored)
            if h is not None:
                result.hypotheses.append(h)


def _against_baseline(suite: str, measure: str, k: int, cells: list[CellDiff]
                      ) -> Hypothesis | None:
    """The paired per-cell test of a drop in the measure, over the cells both sides
    sampled at least k times; None when there is none."""
    fn = passk.ESTIMATORS[measure]
    pairs = [(fn(len(c.before.samples), c.before.pass_count, k),
              fn(len(c.after.samples), c.after.pass_count, k))
             for c in cells if c.before is not None and c.after is not None
             and len(c.before.samples) >= k and len(c.after.samples) >= k]
    if not pairs:
        return None
    return Hypothesis(suite, passk.name(measure, k),
                      stats.signflip_less([a - b for b, a in pairs]),
                      statistics.fmean(b for b, _ in pairs),
                      statistics.fmean(a for _, a in pairs))

"""Noise-aware verdicts: which drops are regressions when outputs are sampled.

A cell (case x prompt x model) is compared exactly when both sides hold one sample of
a deterministic model (temperature 0): pass -> fail is broken. Otherwise the cell is
*sampled* and compared statistically:

- per cell, a one-sided Fisher exact test on baseline k0/n0 against candidate k1/n1;
- per suite, an exact stratified test over all its sampled cells (their pass counts),
  and a paired sign-flip test per named metric on the per-cell mean scores.

False alarms are controlled over the whole check at `alpha`: half of it goes to the
suite-level family (Holm over every suite's pass-rate and metric tests), half to the
per-cell family (Holm over every sampled cell). A regression is a drop that is both
significant and at least `max_drop` large. Flakiness alone never fails a check.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from .. import stats
from .outcome import DEFAULT_ALPHA, POWER, DiffReport, Hypothesis, Power, SuiteDiff

if TYPE_CHECKING:
    from .baseline import Cell



def deterministic(fingerprint: dict[str, Any]) -> bool:
    """Temperature 0 (or unset on a provider that defaults to greedy decoding)."""
    temperature = (fingerprint.get("params") or {}).get("temperature")
    if temperature is None:
        return (fingerprint.get("model") or {}).get("provider") in ("llama-cpp", "echo")
    return float(temperature) == 0.0


def sampled(before: Cell, after: Cell) -> bool:
    return not (len(before.samples) == 1 and len(after.samples) == 1
                and deterministic(before.fingerprint) and deterministic(after.fingerprint))


def counts(before: Cell, after: Cell) -> tuple[int, int, int, int]:
    """(k0, n0, k1, n1): baseline passes of samples, candidate passes of samples."""
    return before.pass_count, len(before.samples), after.pass_count, len(after.samples)


def sampled_status(k0: int, n0: int, k1: int, n1: int) -> str:
    """The status before significance is decided (a drop starts as 'dropped')."""
    r0, r1 = k0 / n0, k1 / n1
    if r1 < r0:
        return "dropped"
    if r1 > r0:
        return "improved"
    if r0 == 1:
        return "unchanged"
    return "failing" if r0 == 0 else "flaky"


def suite_hypotheses(suite: SuiteDiff) -> list[Hypothesis]:
    cells = [c for c in suite.cells if c.sample_counts is not None]
    if not cells:
        return []
    strata = [(k1, n1, k0, n0) for k0, n0, k1, n1 in
              (c.sample_counts for c in cells if c.sample_counts is not None)]
    before = statistics.fmean(k0 / n0 for k1, n1, k0, n0 in strata)
    after = statistics.fmean(k1 / n1 for k1, n1, k0, n0 in strata)
    out = [Hypothesis(suite.suite, "pass rate", stats.stratified_less(strata), before, after)]
    by_metric: dict[str, list[tuple[float, float]]] = {}
    for c in cells:
        assert c.before is not None and c.after is not None
        b, a = _cell_metrics(c.before), _cell_metrics(c.after)
        for name in b.keys() & a.keys():
            by_metric.setdefault(name, []).append((b[name], a[name]))
    for name, pairs in sorted(by_metric.items()):
        diffs = [a - b for b, a in pairs]
        out.append(Hypothesis(suite.suite, f"metric {name}", stats.signflip_less(diffs),
                              statistics.fmean(b for b, _ in pairs),
                              statistics.fmean(a for _, a in pairs)))
    return out


def _cell_metrics(cell: Cell) -> dict[str, float]:
    scores: dict[str, list[float]] = {}
    for sample in cell.samples:
        for a in sample.assertions:
            if a.get("metric"):
                scores.setdefault(a["metric"], []).append(float(a["score"]))
    return {k: statistics.fmean(v) for k, v in scores.items()}


def decide(report: DiffReport, alpha: float = DEFAULT_ALPHA) -> None:
    """Adjust the families, then mark broken cells and suite-level regressions."""
    report.alpha = alpha
    suite_family = [h for s in report.suites for h in s.hypotheses]
    for h, adj in zip(suite_family, stats.holm([h.p_value for h in suite_family]),
                      strict=True):
        h.adjusted = adj
    cell_family = [(c, c.p_value) for c in report.cells() if c.p_value is not None]
    for (c, _), adj in zip(cell_family, stats.holm([p for _, p in cell_family]),
                           strict=True):
        c.adjusted = adj  # (a p-value of 0.0 is a p-value, not a missing one)
    half = alpha / 2
    for s in report.suites:
        min_drop = s.max_drop or 0.0
        for c in s.cells:
            if c.status == "dropped" and c.adjusted is not None and c.adjusted <= half:
                k0, n0, k1, n1 = c.sample_counts or (0, 1, 0, 1)
                if k0 / n0 - k1 / n1 >= max(min_drop, 1e-9):
                    c.status = "broken"
        for h in s.hypotheses:
            h.regression = h.adjusted <= half and h.drop >= max(min_drop, 1e-9)
            if h.regression:
                s.metric_regressions.append(f"{h.name} dropped: {h.describe()}")
        s.power = _power(s, alpha=half / max(1, len(suite_family)))


def _power(suite: SuiteDiff, *, alpha: float) -> Power | None:
    cells = [c.sample_counts for c in suite.cells if c.sample_counts is not None]
    if not cells:
        return None
    repeats = int(statistics.median(n1 for _, _, _, n1 in cells))
    drop = stats.min_detectable_drop([(k0, n0) for k0, n0, _, _ in cells], repeats,
                                     alpha=alpha, power=POWER)
    return Power(len(cells), repeats, drop)

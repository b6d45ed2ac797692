"""The charts of the run and diff HTML report (html_report.py), per suite: a forest
plot of the pass rate and every named metric with their 95% intervals, and a histogram
of each metric's per-cell scores (a cell's mean over its repeats).

For a check or diff, a suite with a baseline shows the baseline beside the run over
the cells compared on both sides (the same cells, rates and intervals gate/diff.py
judges: SuiteDiff.pass_rate, pass_rate_ci, and stats.mean_interval of the metrics);
a plain run, or a suite with no compared cell, shows the run's own values
(run/summary.py). Suites come in the run's order; with more than one, each is a
<details> element (open while there are few)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import stats
from ..run.summary import Summary
from .page import esc
from .svg import Estimate, Row, forest_plot, histogram

if TYPE_CHECKING:
    from ..gate.baseline import Cell
    from ..gate.outcome import SuiteDiff
    from ..results import CallRecord
    from .data import ReportData

CSS = """
#charts h2{font-size:16px;margin:14px 0 4px}
.sc>summary{font-weight:600;padding:4px 0}.sc p{margin:2px 0 4px}
.hists{display:flex;flex-wrap:wrap;gap:4px 16px}
"""
OPEN_UP_TO = 3  # suites whose <details> start open


@dataclass
class SuiteCharts:
    """What one suite's charts show: the run side always, the baseline side for a
    suite compared against one."""

    suite: str
    caption: str
    rate: Estimate
    metrics: dict[str, Estimate]
    scores: dict[str, list[float]]  # metric -> per-cell means, the run
    before_rate: Estimate | None = None
    before_metrics: dict[str, Estimate] = field(default_factory=dict)
    before_scores: dict[str, list[float]] = field(default_factory=dict)

    @property
    def compared(self) -> bool:
        return self.before_rate is not None


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _of_run(suite: str, records: list[CallRecord]) -> SuiteCharts:
    summary = Summary.of(records)
    lo, hi = summary.pass_rate_interval()
    scored = summary.samples - summary.error_samples
    rate = Estimate(summary.pass_rate if scored else None, (lo, hi) if scored else None)
    metrics = {name: Estimate(mean, (mlo, mhi))
               for name, (mean, mlo, mhi, _) in summary.metric_intervals().items()}
    scores = {name: [_mean(v) for v in by_cell.values() if v]
              for name, by_cell in sorted(summary.metrics.items())}
    errors = f", {summary.error_samples} errored samples" if summary.error_samples else ""
    caption = (f"this run: {len(summary.cells)} cells, {summary.samples} samples{errors}; "
               "95% intervals")
    return SuiteCharts(suite, caption, rate, metrics, scores)


def _cell_metrics(cell: Cell) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for sample in cell.samples:
        for a in sample.assertions:
            if a.get("metric"):
                out.setdefault(str(a["metric"]), []).append(float(a["score"]))
    return out


def _side(cells: Iterable[Cell]) -> tuple[dict[str, Estimate], dict[str, list[float]]]:
    clusters: dict[str, list[list[float]]] = {}
    for cell in cells:
        for name, scores in _cell_metrics(cell).items():
            clusters.setdefault(name, []).append(scores)
    estimates = {}
    for name, groups in sorted(clusters.items()):
        mean, lo, hi = stats.mean_interval(groups)
        estimates[name] = Estimate(mean, (lo, hi))
    return estimates, {name: [_mean(g) for g in groups]
                       for name, groups in sorted(clusters.items())}


def _of_diff(s: SuiteDiff) -> SuiteCharts | None:
    both = [(d.before, d.after) for d in s.cells if d.before is not None
            and d.after is not None]
    if not both or s.pass_rate[0] is None or s.pass_rate[1] is None:
        return None
    (b_rate, a_rate), (b_ci, a_ci) = s.pass_rate, s.pass_rate_ci
    before_metrics, before_scores = _side(b for b, _ in both)
    metrics, scores = _side(a for _, a in both)
    caption = (f"baseline &rarr; this run over the {len(both)} cells compared on both sides; "
               "95% intervals; the dashed line is the baseline's value")
    return SuiteCharts(s.suite, caption, Estimate(a_rate, a_ci), metrics, scores,
                       Estimate(b_rate, b_ci), before_metrics, before_scores)


def suite_charts(data: ReportData) -> list[SuiteCharts]:
    by_suite: dict[str, list[CallRecord]] = {}
    for rec in data.records:
        by_suite.setdefault(rec.suite, []).append(rec)
    diffs = {s.suite: s for s in data.diff.suites} if data.diff is not None else {}
    order = list(dict.fromkeys([*diffs, *by_suite]))
    out = []
    for suite in order:
        charts = _of_diff(diffs[suite]) if suite in diffs else None
        if charts is None and by_suite.get(suite):
            charts = _of_run(suite, by_suite[suite])
        if charts is not None:
            out.append(charts)
    return out


def _rows(c: SuiteCharts) -> list[Row]:
    rows = [Row("pass rate", c.rate, c.before_rate, percent=True,
                reference=c.before_rate.value if c.before_rate else None)]
    for name in sorted(set(c.metrics) | set(c.before_metrics)):
        before = c.before_metrics.get(name) if c.compared else None
        if c.compared and before is None:
            before = Estimate(None)
        rows.append(Row(f"metric {name}", c.metrics.get(name, Estimate(None)), before,
                        reference=before.value if before else None))
    return rows


def _body(c: SuiteCharts) -> str:
    names = ("baseline", "run")
    out = [f'<p class="mut">{c.caption}</p>',
           forest_plot(_rows(c), what=f"suite {c.suite}", names=names)]
    hists = [histogram(c.scores.get(name, []), what=f"metric {name} per cell",
                       before=c.before_scores.get(name, []) if c.compared else None,
                       names=names)
             for name in sorted(set(c.scores) | set(c.before_scores))]
    if hists:
        out.append('<div class="hists">' + "".join(hists) + "</div>")
    return "".join(out)


def charts_html(data: ReportData) -> str:
    """The <section id="charts"> of the report ('' when there is nothing to draw)."""
    suites = suite_charts(data)
    if not suites:
        return ""
    out = ['<section id="charts">']
    if len(suites) == 1:
        (c,) = suites
        out.append(f'<div class="sc" data-suite="{esc(c.suite)}"><h2>{esc(c.suite)}</h2>'
                   f"{_body(c)}</div>")
    else:
        for c in suites:
            shown = " open" if len(suites) <= OPEN_UP_TO else ""
            out.append(f'<details class="sc" data-suite="{esc(c.suite)}"{shown}><summary>'
                       f"{esc(c.suite)}</summary>{_body(c)}</details>")
    return "".join(out) + "</section>"

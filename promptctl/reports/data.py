"""ReportData: what every report is made from, a run and its diff against the
baselines. Its own module so that each writer can name it without importing the
package that chooses between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..gate.labels import LabelView
    from ..gate.outcome import DiffReport
    from ..results import CallRecord, CellKey, RecordKey
    from ..run.runner import RunResult
    from ..run.summary import Summary


@dataclass
class ReportData:
    """What every report is made from: a run, and its diff against the baselines."""

    run_id: str | None
    started: str
    finished: str
    records: list[CallRecord]
    summary: Summary
    diff: DiffReport | None = None
    # suite -> its line "History (last N runs): ▂▃▅ 80% → 91%", for the Markdown diff
    history: dict[str, str] = field(default_factory=dict)
    # the human labels of reviews/ on the records' outputs (gate.labels.label_views)
    labels: dict[RecordKey, LabelView] = field(default_factory=dict)
    # where the run's time went (run/timing.Timing.to_dict); None for a saved run
    timing: dict[str, Any] | None = None

    def cell_labels(self) -> dict[CellKey, LabelView]:
        """One label per cell, for the reports that show cells (gate.labels.cell_views)."""
        # deferred: the labels' module only for reports that have labels
        from ..gate.labels import cell_views

        return cell_views(self.labels) if self.labels else {}

    def case_metadata(self) -> dict[tuple[str, str], tuple[dict[str, Any], tuple[str, ...]]]:
        """(suite, case) -> (metadata, tags), for the cases that have either."""
        out: dict[tuple[str, str], tuple[dict[str, Any], tuple[str, ...]]] = {}
        for rec in self.records:
            if (rec.metadata or rec.tags) and (rec.suite, rec.case) not in out:
                out[rec.suite, rec.case] = (rec.metadata, rec.tags)
        return out

    @classmethod
    def of(cls, result: RunResult, diff: DiffReport | None = None) -> ReportData:
        data = cls(result.run_id, result.started, result.finished, result.records,
                   result.summary, diff)
        if result.timing is not None:
            data.timing = result.timing.to_dict()
        return data

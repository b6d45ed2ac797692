"""ReportData: what every report is made from, a run and its diff against the
baselines. Its own module so that each writer can name it without importing the
package that chooses between them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..gate.outcome import DiffReport
    from ..results import CallRecord
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

    @classmethod
    def of(cls, result: RunResult, diff: DiffReport | None = None) -> ReportData:
        return cls(result.run_id, result.started, result.finished, result.records,
                   result.summary, diff)

"""Incremental run summary: counts per cell (suite, case, prompt, model), classes
(stable pass, stable fail, flaky), the pass rate and every named metric with a 95%
interval that treats the repeats of one case as one cluster, pass@k and pass^k per suite
with repeats (run/passk.py); and, for the terminal, the snapshots hosted endpoints said
they ran behind the model names asked for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .. import stats
from ..results import CallRecord, CellKey
from . import passk
from .budget import is_not_run


def cell_status(before: str | None, sample: str) -> str:
    """A cell's status (pass | fail | error) once one more sample's is known: a cell
    fails if any sample failed; an error counts only when nothing failed."""
    if before is None or sample == "fail" or (sample == "error" and before == "pass"):
        return sample
    return before


@dataclass
class Summary:
    cells: dict[CellKey, str] = field(default_factory=dict)  # pass | fail | error
    outcomes: dict[CellKey, list[float]] = field(default_factory=dict)  # 1.0 pass per sample
    samples: int = 0
    passed_samples: int = 0
    error_samples: int = 0
    cached: int = 0
    retries: int = 0  # failed attempts over every call, errored or not
    tokens_prompt: int = 0
    tokens_completion: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    not_run: int = 0  # calls the budget did not allow (budget.py): errors, resumable
    metrics: dict[str, dict[CellKey, list[float]]] = field(default_factory=dict)
    # per model alias, the calls an endpoint answered as another model than the name
    # asked for (the snapshot behind an alias), by that model: for the terminal only
    served: dict[str, dict[str, int]] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Cells by status, kept as `add` changes them: `count` reads it."""
        for status in self.cells.values():
            self._counts[status] = self._counts.get(status, 0) + 1

    @classmethod
    def of(cls, records: Iterable[CallRecord]) -> Summary:
        """The summary of finished records (a saved run, a merge, a watch round)."""
        summary = cls()
        for rec in records:
            summary.add(rec)
        return summary

    def add(self, rec: CallRecord) -> None:
        cell = rec.cell
        status = rec.status
        before = self.cells.get(cell)
        if cell_status(before, status) != before:
            self.cells[cell] = status
            counts = self._counts
            counts[status] = counts.get(status, 0) + 1
            if before is not None:
                counts[before] -= 1
        self.samples += 1
        self.cached += rec.cached
        self.retries += rec.retries
        if rec.error is not None:
            self.error_samples += 1
            self.not_run += is_not_run(rec)
            return
        self.outcomes.setdefault(cell, []).append(1.0 if rec.passed else 0.0)
        self.passed_samples += rec.passed
        self.tokens_prompt += rec.tokens.get("prompt", 0)
        self.tokens_completion += rec.tokens.get("completion", 0)
        self.cost += rec.cost
        self.latency_ms += rec.latency_ms
        served = rec.fingerprint.get("served")
        if isinstance(served, dict) and served.get("model") and \
                served["model"] != (rec.fingerprint.get("model") or {}).get("model"):
            by_model = self.served.setdefault(rec.model, {})
            by_model[served["model"]] = by_model.get(served["model"], 0) + 1
        for a in rec.assertions:
            if a.metric:
                self.metrics.setdefault(a.metric, {}).setdefault(cell, []).append(a.score)

    def count(self, status: str) -> int:
        return self._counts.get(status, 0)

    @property
    def passed(self) -> int:
        return self.count("pass")

    @property
    def failed(self) -> int:
        return self.count("fail")

    @property
    def errors(self) -> int:
        return self.count("error")

    def classes(self) -> dict[str, int]:
        """Cells by behaviour over their repeats."""
        out = {"stable_pass": 0, "stable_fail": 0, "flaky": 0}
        for values in self.outcomes.values():
            k = sum(values)
            key = "stable_pass" if k == len(values) else "stable_fail" if k == 0 else "flaky"
            out[key] += 1
        return out

    def flaky(self) -> list[CellKey]:
        return [c for c, v in self.outcomes.items() if 0 < sum(v) < len(v)]

    @property
    def pass_rate(self) -> float:
        scored = self.samples - self.error_samples
        return self.passed_samples / scored if scored else 0.0

    def pass_rate_interval(self) -> tuple[float, float]:
        _, lo, hi = stats.rate_interval(list(self.outcomes.values()))
        return lo, hi

    def metric_intervals(self) -> dict[str, tuple[float, float, float, int]]:
        """name -> (mean, lo, hi, samples)."""
        out = {}
        for name, by_cell in sorted(self.metrics.items()):
            clusters = list(by_cell.values())
            mean, lo, hi = stats.mean_interval(clusters)
            out[name] = (mean, lo, hi, sum(len(c) for c in clusters))
        return out

    def pass_k(self) -> list[passk.SuitePassK]:
        """pass@k and pass^k of every suite with repeats (run/passk.py)."""
        return passk.suites(self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.pass_rate_interval()
        return {
            "cases": len(self.cells),
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "pass_rate": round(self.pass_rate, 4),
            "pass_rate_ci": [round(lo, 4), round(hi, 4)],
            "classes": self.classes(),
            "samples": self.samples,
            "cached": self.cached,
            "retries": self.retries,
            "tokens": {"prompt": self.tokens_prompt, "completion": self.tokens_completion},
            "cost": round(self.cost, 6),
            **({"not_run": self.not_run} if self.not_run else {}),
            "metrics": {name: {"mean": round(mean, 4), "ci": [round(lo, 4), round(hi, 4)],
                               "n": n}
                        for name, (mean, lo, hi, n) in self.metric_intervals().items()},
            "pass_k": passk.section(self.outcomes),  # suites with repeats only
        }

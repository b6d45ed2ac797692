"""Incremental run summary: counts per cell (suite, case, prompt, model), pass rate
over samples, and named metrics with an interval."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .results import CallRecord

Cell = tuple[str, str, str, str]


@dataclass
class _Stat:
    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        self.total += x
        self.total_sq += x * x

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    def interval(self) -> list[float]:
        """95% normal-approximation interval of the mean, clipped to [0, 1]."""
        if self.n < 2:
            return [self.mean, self.mean]
        var = max(0.0, (self.total_sq - self.n * self.mean**2) / (self.n - 1))
        half = 1.96 * math.sqrt(var / self.n)
        return [max(0.0, self.mean - half), min(1.0, self.mean + half)]


@dataclass
class Summary:
    cells: dict[Cell, str] = field(default_factory=dict)  # pass | fail | error
    samples: int = 0
    passed_samples: int = 0
    error_samples: int = 0
    cached: int = 0
    tokens_prompt: int = 0
    tokens_completion: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    metrics: dict[str, _Stat] = field(default_factory=dict)

    def add(self, rec: CallRecord) -> None:
        cell = (rec.suite, rec.case, rec.prompt, rec.model)
        status = rec.status
        before = self.cells.get(cell)
        # a cell fails if any sample failed; errors only count when nothing failed
        if before is None or status == "fail" or (status == "error" and before == "pass"):
            self.cells[cell] = status
        self.samples += 1
        self.cached += rec.cached
        if rec.error is not None:
            self.error_samples += 1
            return
        self.passed_samples += rec.passed
        self.tokens_prompt += rec.tokens.get("prompt", 0)
        self.tokens_completion += rec.tokens.get("completion", 0)
        self.cost += rec.cost
        self.latency_ms += rec.latency_ms
        for a in rec.assertions:
            if a.metric:
                self.metrics.setdefault(a.metric, _Stat()).add(a.score)

    def count(self, status: str) -> int:
        return sum(1 for s in self.cells.values() if s == status)

    @property
    def passed(self) -> int:
        return self.count("pass")

    @property
    def failed(self) -> int:
        return self.count("fail")

    @property
    def errors(self) -> int:
        return self.count("error")

    @property
    def pass_rate(self) -> float:
        scored = self.samples - self.error_samples
        return self.passed_samples / scored if scored else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": len(self.cells),
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "pass_rate": round(self.pass_rate, 4),
            "samples": self.samples,
            "cached": self.cached,
            "tokens": {"prompt": self.tokens_prompt, "completion": self.tokens_completion},
            "cost": round(self.cost, 6),
            "metrics": {name: {"mean": round(st.mean, 4),
                               "ci": [round(x, 4) for x in st.interval()], "n": st.n}
                        for name, st in sorted(self.metrics.items())},
        }

"""What a diff of a run against its baselines finds: per cell (CellDiff), per suite
(SuiteDiff, with the hypotheses and the power that verdicts.py attaches) and for the
run (DiffReport, whose exit code is the gate's). diff.py fills them in, verdicts.py
decides which drops are regressions, reports/ and the CLI read them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import ExitCode
from ..passk import Verdict
from .baseline import Cell

DEFAULT_ALPHA = 0.05  # the false-alarm rate a check allows, over all its comparisons
POWER = 0.8  # the chance of catching a drop that the power line reports


@dataclass
class Hypothesis:
    """One suite-level question: did this rate or metric drop?"""

    suite: str
    name: str  # "pass rate" or "metric NAME"
    p_value: float
    before: float
    after: float
    adjusted: float = 1.0
    regression: bool = False

    @property
    def drop(self) -> float:
        return self.before - self.after

    def describe(self) -> str:
        pct = self.name == "pass rate" or self.name.startswith(("pass^", "pass@"))
        fmt = (lambda x: f"{x:.0%}") if pct else (lambda x: f"{x:.3f}")
        return (f"{self.name} {fmt(self.before)} -> {fmt(self.after)} "
                f"(p={self.p_value:.3g}, adjusted {self.adjusted:.3g})")


@dataclass
class Power:
    cases: int
    repeats: int
    min_drop: float | None

    def describe(self) -> str:
        size = f"with {self.cases} cases x {self.repeats} repeats"
        if self.min_drop is None:
            return f"{size}, even a total collapse may go unnoticed: add cases or repeats"
        return (f"{size}, drops under {self.min_drop * 100:.0f} points may go unnoticed "
                f"({POWER:.0%} power)")


FAILS_CHECK = {"broken"}
FAILS_STRICT = {"broken", "tolerated", "fixed", "changed", "new", "removed"}


@dataclass
class CellDiff:
    suite: str
    case: str
    prompt: str
    model: str
    status: str
    before: Cell | None = None
    after: Cell | None = None
    fingerprint: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # the run's failing assertions
    note: str = ""
    # sampled cells (repeats, or temperature > 0) are compared statistically
    sample_counts: tuple[int, int, int, int] | None = None  # (k0, n0, k1, n1)
    p_value: float | None = None
    adjusted: float | None = None

    @property
    def output_changed(self) -> bool:
        return bool(self.before and self.after and self.before.outputs != self.after.outputs)


@dataclass
class SuiteDiff:
    suite: str
    has_baseline: bool
    cells: list[CellDiff]
    pass_rate: tuple[float | None, float | None]
    metrics: dict[str, tuple[float | None, float | None]]
    max_drop: float | None
    metric_regressions: list[str] = field(default_factory=list)
    not_run: int = 0
    hypotheses: list[Hypothesis] = field(default_factory=list)
    power: Power | None = None
    # 95% intervals of the compared cells' pass rates, before and after
    pass_rate_ci: tuple[tuple[float, float] | None, tuple[float, float] | None] = (None, None)
    # the suite's `gate:` thresholds on pass^k / pass@k against this run (passk_gate.py)
    gate: list[Verdict] = field(default_factory=list)

    @property
    def gate_failures(self) -> list[Verdict]:
        return [v for v in self.gate if v.failed]


@dataclass
class DiffReport:
    run_id: str | None
    suites: list[SuiteDiff]
    strict: bool = False
    alpha: float = DEFAULT_ALPHA

    def cells(self) -> Iterable[CellDiff]:
        for s in self.suites:
            yield from s.cells

    def counts(self) -> Counter[str]:
        return Counter(c.status for c in self.cells())

    def failing(self) -> list[CellDiff]:
        bad = FAILS_STRICT if self.strict else FAILS_CHECK
        return [c for c in self.cells()
                if c.status in bad or (self.strict and c.status == "failing"
                                       and c.output_changed)]

    @property
    def exit_code(self) -> ExitCode:
        if self.failing() or any(s.metric_regressions or s.gate_failures
                                 for s in self.suites):
            return ExitCode.FAILED
        if self.counts()["error"]:
            return ExitCode.INFRA
        return ExitCode.OK

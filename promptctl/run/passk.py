"""A run's pass@k and pass^k per suite (promptctl.passk's estimators over its cells).

A suite is reported when it has repeats: every one of its cells was scored at least
twice (errored samples do not count). k is the cells' common sample count, or the
smallest when they differ (`--repeat auto`, a resumed run), so every cell contributes.
Suites whose smallest cell has one sample are left out: pass@1 and pass^1 are the pass
rate the summary already gives.

`section` is summary.json's (and -o json's) "pass_k" object; `lines` the terminal's
and the reports' wording of it. Both read only the summary's per-cell outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import passk
from ..results import CellKey


@dataclass(frozen=True)
class SuitePassK:
    suite: str
    k: int
    at: passk.Estimate  # pass@k
    hat: passk.Estimate  # pass^k

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "cells": self.at.cells,
                passk.PASS_AT: self.at.to_dict(), passk.PASS_HAT: self.hat.to_dict()}

    def describe(self) -> str:
        return f"{self.suite}: {self.at.describe()} · {self.hat.describe()} " \
               f"over {self.at.cells} cells"


def cell_counts(outcomes: Mapping[CellKey, Sequence[float]]
                ) -> dict[str, list[tuple[int, int]]]:
    """Per suite, every scored cell as (samples n, passes c), in the run's order."""
    out: dict[str, list[tuple[int, int]]] = {}
    for (suite, *_), values in outcomes.items():
        if values:
            out.setdefault(suite, []).append((len(values), round(sum(values))))
    return out


def suites(outcomes: Mapping[CellKey, Sequence[float]]) -> list[SuitePassK]:
    """The suites with repeats, each at k = its smallest cell's sample count."""
    out = []
    for suite, cells in cell_counts(outcomes).items():
        k = passk.default_k(cells)
        if k < 2:
            continue
        out.append(SuitePassK(suite, k, passk.suite_estimate(passk.PASS_AT, cells, k),
                              passk.suite_estimate(passk.PASS_HAT, cells, k)))
    return out


def section(outcomes: Mapping[CellKey, Sequence[float]]) -> dict[str, Any]:
    """summary.json's "pass_k": {suite: {k, cells, "pass@k": {mean, ci}, "pass^k": ...}}."""
    return {s.suite: s.to_dict() for s in suites(outcomes)}


def lines(outcomes: Mapping[CellKey, Sequence[float]]) -> list[str]:
    """One line per suite with repeats: "s: pass@3 90% [72%, 97%] · pass^3 61% [...]"."""
    return [s.describe() for s in suites(outcomes)]

"""The incremental summary: cells by status however their samples arrive."""

from __future__ import annotations

import itertools
import random

from promptctl.results import CallRecord
from promptctl.run.summary import Summary


def record(case: str, repeat: int, status: str) -> CallRecord:
    return CallRecord(suite="s", case=case, prompt="p", model="m", repeat=repeat,
                      messages=[], params={}, passed=status == "pass",
                      error="boom" if status == "error" else None)


def test_counts_follow_every_order_of_samples():
    """A cell fails if any sample failed, errs if one erred and none failed: the counts
    `passed`, `failed` and `errors` read agree with the cells, whatever the order."""
    rng = random.Random(7)
    statuses = ("pass", "fail", "error")
    for trial in range(200):
        records = [record(f"c{c}", r, rng.choice(statuses))
                   for c in range(rng.randint(1, 6)) for r in range(rng.randint(1, 4))]
        rng.shuffle(records)
        summary = Summary.of(records)
        for status in statuses:
            assert summary.count(status) == sum(
                1 for s in summary.cells.values() if s == status), (trial, status)
        by_cell = {k: [r.status for r in g] for k, g in itertools.groupby(
            sorted(records, key=lambda r: r.case), key=lambda r: r.case)}
        for case, seen in by_cell.items():
            want = "fail" if "fail" in seen else "error" if "error" in seen else "pass"
            assert summary.cells[("s", case, "p", "m")] == want
    assert (summary.passed, summary.failed, summary.errors) == (
        summary.count("pass"), summary.count("fail"), summary.count("error"))


def test_a_summary_made_from_cells_counts_them():
    summary = Summary(cells={("s", "a", "p", "m"): "pass", ("s", "b", "p", "m"): "error"})
    assert (summary.passed, summary.failed, summary.errors) == (1, 0, 1)

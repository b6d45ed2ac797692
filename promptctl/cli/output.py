"""Everything rich: the progress bar, the results table, the summary line."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..results import CallRecord
from ..summary import Summary

if TYPE_CHECKING:
    from ..runner import RunResult

def _console(stderr: bool = False) -> Console:
    """Off a terminal (CI logs, pipes) rich would assume 80 columns and squeeze the
    output column to a few characters: use COLUMNS, else a log-friendly 160."""
    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160
    return console


out = _console()
err = _console(stderr=True)

STATUS_STYLE = {"pass": "green", "fail": "red", "error": "yellow"}
ORDER = {"error": 0, "fail": 1, "pass": 2}
TABLE_LIMIT = 40


def short(text: str | None, width: int = 60) -> str:
    if text is None:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@contextlib.contextmanager
def progress(enabled: bool) -> Iterator[Any]:
    """A progress bar on stderr; yields (set_total, advance) callbacks."""
    if not enabled or not err.is_terminal:
        yield (lambda total: None), (lambda rec: None)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("[bold]running"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                   TextColumn("eta"), TimeRemainingColumn(), console=err, transient=True)
    task = bar.add_task("run", total=None, failed=0)
    failed = 0

    def advance(rec: CallRecord) -> None:
        nonlocal failed
        failed += rec.status != "pass"
        bar.update(task, advance=1, failed=failed)

    with bar:
        yield (lambda total: bar.update(task, total=total)), advance


def results_table(records: Sequence[CallRecord], *, verbose: bool) -> tuple[Table | None, int]:
    """Failures first, with reasons. Returns the table and how many rows it hides."""
    rows = sorted(records, key=lambda r: ORDER[r.status])  # stable: keeps plan order
    hidden = 0
    if not verbose and len(rows) > TABLE_LIMIT:
        shown = [r for r in rows if r.status != "pass"][:TABLE_LIMIT]
        hidden = len(rows) - len(shown)
        rows = shown
    if not rows:
        return None, hidden
    def varies(field: str) -> bool:  # within a suite: a prompt or model matrix
        seen: dict[str, set[Any]] = {}
        for r in records:
            seen.setdefault(r.suite, set()).add(getattr(r, field))
        return any(len(v) > 1 for v in seen.values())

    many = {"suite": len({r.suite for r in records}) > 1, "prompt": varies("prompt"),
            "model": varies("model"), "repeat": varies("repeat")}
    table = Table(show_lines=False, pad_edge=False, expand=False)
    table.add_column("", no_wrap=True)
    if many["suite"]:
        table.add_column("suite", no_wrap=True)
    table.add_column("case", no_wrap=True)
    if many["prompt"]:
        table.add_column("prompt", no_wrap=True)
    if many["model"]:
        table.add_column("model", no_wrap=True)
    if many["repeat"]:
        table.add_column("#", justify="right")
    table.add_column("output", overflow="fold", ratio=3, min_width=24)
    table.add_column("why", overflow="fold", ratio=2, min_width=16)
    for r in rows:
        status = Text(r.status.upper(), style=STATUS_STYLE[r.status])
        cells: list[Any] = [status]
        if many["suite"]:
            cells.append(r.suite)
        cells.append(escape(r.case))
        if many["prompt"]:
            cells.append(r.prompt)
        if many["model"]:
            cells.append(r.model)
        if many["repeat"]:
            cells.append(str(r.repeat))
        cells.append(Text(short(r.output) + (" (cached)" if r.cached else "")))
        cells.append(Text(_why(r)))
        table.add_row(*cells)
    return table, hidden


def _why(r: CallRecord) -> str:
    if r.error is not None:
        return r.error
    reasons = [f"{a.type}: {a.reason}" for a in r.assertions if not a.passed]
    if r.passed and not reasons:
        return ""
    if r.passed:  # passed through a weighted threshold despite some failures
        return f"score {r.score:.2f} ≥ threshold; " + "; ".join(reasons)
    return "; ".join(reasons) if reasons else f"score {r.score:.2f} below the case threshold"


def show_results(result: RunResult, seconds: float, *, quiet: bool, verbose: bool) -> None:
    """The results table (unless quiet) and the summary line."""
    if not quiet:
        table, hidden = results_table(result.records, verbose=verbose)
        if table is not None:
            out.print(table)
        if hidden:
            out.print(f"[dim]{hidden} passing results not shown (--verbose shows all)[/dim]")
    out.print(summary_line(result.summary, seconds, result.run_id))


def summary_line(summary: Summary, seconds: float, run_id: str | None) -> Text:
    parts = Text()
    n = len(summary.cells)
    parts.append(f"{n} case{'s' if n != 1 else ''}: ")
    parts.append(f"{summary.passed} passed", style="green" if summary.passed else "")
    parts.append(", ")
    parts.append(f"{summary.failed} failed", style="red" if summary.failed else "")
    if summary.errors:
        parts.append(", ")
        parts.append(f"{summary.errors} errors", style="yellow")
    extra = [f"pass rate {summary.pass_rate:.1%}"]
    if summary.samples != n:
        extra.append(f"{summary.samples} samples")
    extra.append(f"{seconds:.2f}s")
    if summary.cached:
        extra.append(f"{summary.cached} cached")
    tokens = summary.tokens_prompt + summary.tokens_completion
    if tokens:
        extra.append(f"{tokens:,} tokens")
    if summary.cost:
        extra.append(f"${summary.cost:.4f}")
    for name, stat in sorted(summary.metrics.items()):
        lo, hi = stat.interval()
        extra.append(f"{name} {stat.mean:.2f} [{lo:.2f}, {hi:.2f}]")
    if run_id:
        extra.append(f"run {run_id}")
    parts.append(" · " + " · ".join(extra))
    return parts

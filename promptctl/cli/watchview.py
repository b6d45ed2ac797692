"""The terminal side of `promptctl run --watch` (integrations/watch.py): after each run
the full results table again, the cells that changed since the previous save marked
(+ new, ↑ better, ↓ worse, ~ other output), the summary line and a line on what the
save ran; a project that does not load prints one error line and the watch goes on.

run_cmd.py imports this module only for --watch (it brings in watchfiles). User and
model text goes into Text cells, never through rich's markup (output.py).
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.table import Table
from rich.text import Text

from ..boundary import display_path
from ..errors import PromptctlError
from ..integrations.watch import WatchResult, watch
from ..results import CallRecord
from ..run.options import RunOptions
from . import output
from .funnel import error_line

MARKS = {"new": ("+", "cyan"), "better": ("↑", "green"), "worse": ("↓", "red"),
         "output": ("~", "yellow")}
LEGEND = "+ new, ↑ better, ↓ worse, ~ other output"
WATCHING = "watching for changes, Ctrl-C stops"

Row = tuple[CallRecord, str | None]  # a record and how its cell changed, if it did


def run_watch(root: Path, targets: list[str], options: RunOptions, config: Path | None,
              *, verbose: bool) -> None:
    """Watch in this thread, printing every result, until Ctrl-C (which returns)."""
    stop = threading.Event()
    try:
        watch(root, options, lambda res: show(res, verbose=verbose), stop,
              targets=targets, config=config, on_error=show_error)
    except KeyboardInterrupt:
        stop.set()


def show(res: WatchResult, *, verbose: bool) -> None:
    """One result: the screen cleared (on a terminal), the table, the summary line."""
    if output.out.is_terminal:
        output.out.clear()
    rows = table_rows(res, verbose=verbose)
    if rows:
        output.out.print(results_table(rows, verbose=verbose))
    output.out.print(output.summary_line(res.summary, res.seconds, None))
    output.out.print(Text(f"{what_ran(res)} · {WATCHING}", style="dim"))


def show_error(exc: PromptctlError) -> None:
    output.err.print(error_line(exc), markup=False)
    output.err.print(f"[dim]{WATCHING}[/dim]")


def table_rows(res: WatchResult, *, verbose: bool) -> list[Row]:
    """The records to show: changed cells first, then by status (errors, failures,
    flaky, passes); a pass whose cell did not change only with -v, and without -v at
    most output.TABLE_LIMIT rows."""
    rows: list[Row] = []
    for rec in res.records:
        how = res.changed.get(rec.cell)
        if verbose or how is not None or rec.status != "pass":
            rows.append((rec, how))
    rows.sort(key=lambda row: (row[1] is None, output.ORDER[row[0].status]))
    return rows if verbose else rows[:output.TABLE_LIMIT]


def results_table(rows: list[Row], *, verbose: bool) -> Table:
    """output.results_table's columns, after a first one with the change mark."""
    table = Table(pad_edge=False, expand=False)
    for name in ("", "", "suite", "case", "prompt", "model"):
        table.add_column(name, no_wrap=True)
    table.add_column("output", overflow="fold", ratio=3, min_width=24)
    table.add_column("why", overflow="fold", ratio=2, min_width=16)
    for rec, how in rows:
        mark, style = MARKS.get(how or "", ("", ""))
        shown = output.short(rec.output) + (" (cached)" if rec.cached else "")
        table.add_row(Text(mark, style=style),
                      Text(rec.status.upper(), style=output.STATUS_STYLE[rec.status]),
                      Text(rec.suite), Text(rec.case), Text(rec.prompt), Text(rec.model),
                      Text(shown), Text(output._why(rec, verbose)))
    return table


def what_ran(res: WatchResult) -> str:
    """`ran 6 of 6 cases` the first time; after a save, which files and what changed."""
    if res.first:
        return f"ran {len(res.ran)} of {res.total} cases"
    files = ", ".join(display_path(p) for p in res.files[:3]) or "a file"
    return (f"{files} saved: ran {len(res.ran)} of {res.total} cases again, "
            f"{len(res.changed)} changed ({LEGEND})")

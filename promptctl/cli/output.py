"""Everything rich: the progress bar, the results table, the summary line.

User and model text (case ids, outputs, reasons, paths, names) never goes through
rich's markup or emoji codes: it is a Text, printed with markup=False, or written as
it is (write_raw), so `[bold]` and `:smile:` print as typed. Emoji codes are off for
every console; markup stays for promptctl's own styling only.

Start-up: rich is imported when a console is first needed (`out` and `err` are made on
first use). A line that rich would print exactly as its text (off a terminal, no
colour forced, printable characters only, within the width) is written without it
(`_plain`): `run -q` in CI or a script prints its summary line and imports no rich.

A result's output shows its tool calls, `get_weather({"city":"Paris"})`, beside its
text, and a conversation one line per turn, `turn 2: input → calls / text`
(gate/calls.py), each cut as an output is."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

from ..results import CallRecord, CellKey, RecordKey
from ..run.summary import Summary
from ..stats import wilson

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..gate.labels import LabelView
    from ..run.runner import RunResult

WIDTH = 160  # off a terminal without COLUMNS: see _console


def _console(stderr: bool = False) -> Console:
    """Off a terminal (CI logs, pipes) rich would assume 80 columns and squeeze the
    output column to a few characters: use COLUMNS, else a log-friendly 160."""
    from rich.console import Console  # start-up: only when something needs rich

    console = Console(stderr=stderr, highlight=False, soft_wrap=False, emoji=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = WIDTH
    return console


_consoles: dict[str, Console] = {}


def __getattr__(name: str) -> Console:
    """`out` (stdout) and `err` (stderr): the consoles, made on first use."""
    if name not in ("out", "err"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _consoles:
        _consoles[name] = _console(stderr=name == "err")
    return _consoles[name]


def _off_terminal(stream: IO[str]) -> bool:
    """Whether rich certainly sees no terminal in `stream`: it does not claim to be
    one, and neither TTY_COMPATIBLE nor FORCE_COLOR says otherwise."""
    if "TTY_COMPATIBLE" in os.environ or "FORCE_COLOR" in os.environ:
        return False
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):
        return False


def _plain(text: str, stderr: bool = False) -> bool:
    """Writes `text` and a newline as rich would print it, when rich would print it
    as it is: off a terminal, printable characters only, no wider than the console
    (rich would wrap it). False, with nothing written, when rich is needed."""
    stream = sys.stderr if stderr else sys.stdout
    columns = os.environ.get("COLUMNS")
    width = WIDTH if columns is None else int(columns) if columns.isdigit() else 0
    if not (text.isprintable() and len(text) <= width and _off_terminal(stream)):
        return False
    stream.write(text + "\n")
    stream.flush()
    return True


STATUS_STYLE = {"pass": "green", "fail": "red", "error": "yellow", "flaky": "yellow"}
ORDER = {"error": 0, "fail": 1, "flaky": 2, "pass": 3}
TABLE_LIMIT = 40


def write_raw(text: str, console: Console | None = None) -> None:
    """Text exactly as it is, byte for byte: rich would read markup and emoji codes,
    expand tabs, drop control characters and wrap long lines."""
    stream = (console or __getattr__("out")).file
    stream.write(text)
    stream.flush()


def _say(text: str, *, stderr: bool = False, highlight: bool = True) -> None:
    """One line as it is (no markup): plainly when _plain can, else through rich."""
    if not _plain(text, stderr=stderr):
        __getattr__("err" if stderr else "out").print(text, markup=False,
                                                      highlight=highlight)


def wrote(path: Path) -> None:
    """The line each written report gets on stderr (write_outputs' on_written)."""
    _say(f"wrote {path}", stderr=True)


def short(text: str | None, width: int = 60) -> str:
    if text is None:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@contextlib.contextmanager
def progress(enabled: bool) -> Iterator[Any]:
    """A progress bar on stderr; yields (set_total, advance) callbacks."""
    if not enabled or _off_terminal(sys.stderr) or not __getattr__("err").is_terminal:
        with _batch_news(enabled, None):
            yield (lambda total: None), (lambda rec: None)
        return
    from rich.progress import (  # deferred: only on a terminal; keeps start-up fast
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                   TextColumn("eta"), TimeRemainingColumn(), console=__getattr__("err"),
                   transient=True)
    task = bar.add_task("running", total=None, failed=0)
    failed = 0

    def advance(rec: CallRecord) -> None:
        nonlocal failed
        failed += rec.status != "pass"
        bar.update(task, advance=1, failed=failed)

    with bar, _batch_news(True, lambda text: bar.update(task, description=text)):
        yield (lambda total: bar.update(task, total=total)), advance


@contextlib.contextmanager
def _batch_news(enabled: bool, show: Any) -> Iterator[None]:
    """Batch mode's news while a run polls (run/batch.py): a line on stderr per batch
    submitted, per change of state and per batch collected; the progress bar, if any,
    says the status and counts as they move (`show(text)`)."""
    if not enabled:
        yield
        return
    from ..run.batch import Event, watching  # deferred: only while a run goes

    def told(e: Event) -> None:
        done = f"{e.completed + e.failed}/{e.total} done, {e.failed} failed"
        if show is not None:
            show(f"batch {e.status} {done}")
        if e.kind == "counts":
            return
        what = {"submitted": f"submitted, {e.total} request{'s' * (e.total != 1)} ({e.status})",
                "collected": f"collected ({e.status}: {e.completed} answered, "
                             f"{e.failed} failed)"}.get(e.kind, f"{e.status}, {done}")
        _say(f"batch {e.batch_id} ({e.model}): {what}", stderr=True, highlight=False)

    with watching(told):
        yield


@contextlib.contextmanager
def byte_progress(enabled: bool, total: int, what: str = "scoring") -> Iterator[Any]:
    """A progress bar over the bytes of a file read on stderr; yields advance(n)."""
    if not enabled or _off_terminal(sys.stderr) or not __getattr__("err").is_terminal:
        yield lambda n: None
        return
    from rich.progress import (  # deferred: only on a terminal; keeps start-up fast
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn(f"[bold]{what}"), BarColumn(), DownloadColumn(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                   console=__getattr__("err"), transient=True)
    task = bar.add_task(what, total=total)
    pending = 0

    def advance(n: int) -> None:
        nonlocal pending
        pending += n
        if pending >= 1 << 20:  # a redraw per MB, not per line
            bar.update(task, advance=pending)
            pending = 0

    with bar:
        yield advance


def results_table(records: Sequence[CallRecord], *, verbose: bool,
                  labels: Mapping[RecordKey, LabelView] | None = None
                  ) -> tuple[Table | None, int]:
    """Failures first, with reasons. One row per sample, or per cell (with its pass
    count and interval) when cells were sampled more than once. Returns the table and
    how many passing rows it hides. With `labels` (reviews/ on these outputs), a
    reviewer column, and a passing row the reviewer failed is never hidden."""
    marks = {k: v for k, v in (labels or {}).items() if v.label is not None}
    rows = _cell_rows(records) if any(r.repeat for r in records) else [
        (r.status, r, None) for r in records]
    rows.sort(key=lambda row: ORDER[row[0]])  # stable: keeps plan order
    hidden = 0
    if not verbose and len(rows) > TABLE_LIMIT:
        shown = [row for row in rows if row[0] != "pass" or (
            row[1].key in marks and marks[row[1].key].disagreement)][:TABLE_LIMIT]
        hidden = len(rows) - len(shown)
        rows = shown
    if not rows:
        return None, hidden

    def varies(field: str) -> bool:  # within a suite: a prompt or model matrix
        seen: dict[str, set[Any]] = {}
        for r in records:
            seen.setdefault(r.suite, set()).add(getattr(r, field))
        return any(len(v) > 1 for v in seen.values())

    from rich.table import Table  # start-up: only when something needs rich
    from rich.text import Text

    many = {"suite": len({r.suite for r in records}) > 1, "prompt": varies("prompt"),
            "model": varies("model")}
    per_cell = rows[0][2] is not None
    table = Table(show_lines=False, pad_edge=False, expand=False)
    table.add_column("", no_wrap=True)
    for name in ("suite", "case", "prompt", "model"):
        if name == "case" or many[name]:
            table.add_column(name, no_wrap=True)
    if per_cell:
        table.add_column("passed", no_wrap=True)
    table.add_column("output", overflow="fold", ratio=3, min_width=24)
    table.add_column("why", overflow="fold", ratio=2, min_width=16)
    if marks:
        table.add_column("reviewer", overflow="fold", min_width=12)
    for status, r, tally in rows:
        cells: list[Any] = [Text(status.upper(), style=STATUS_STYLE[status])]
        for name in ("suite", "case", "prompt", "model"):
            if name == "case" or many[name]:
                cells.append(Text(str(getattr(r, name))))
        if tally is not None:
            cells.append(tally)
        cells.append(Text(said(r) + (" (cached)" if r.cached else "")))
        cells.append(Text(_why(r, verbose)))
        if marks:
            view = marks.get(r.key)
            cells.append(Text(view.words(), style="bold red" if view.disagreement == "gap"
                              else "bold yellow" if view.disagreement else "dim")
                         if view is not None else Text(""))
        table.add_row(*cells)
    return table, hidden


TURN_WIDTH = 80  # characters of a conversation's turn line ("turn N: input → ...")


def said(r: CallRecord, width: int = 60) -> str:
    """A record's output as a table cell shows it: its text, its tool calls before it,
    cut to `width`; a conversation's turns one a line, each cut to TURN_WIDTH."""
    if not r.tool_calls and r.turns is None:
        return short(r.output, width)
    from ..gate.calls import ARGUMENTS_LIMIT, shown  # deferred: only for tool calls

    text = shown(r.output, r.tool_calls, r.turns, ARGUMENTS_LIMIT)
    if r.turns is None:
        return short(text, width)
    return "\n".join(short(line, TURN_WIDTH) for line in text.split("\n"))


def _cell_rows(records: Sequence[CallRecord]) -> list[tuple[str, CallRecord, str | None]]:
    """One row per cell: its status (pass, fail, flaky, error), the sample to show (the
    first failing one), and 'k/n [lo-hi]'."""
    cells: dict[CellKey, list[CallRecord]] = {}
    for r in records:
        cells.setdefault(r.cell, []).append(r)
    rows: list[tuple[str, CallRecord, str | None]] = []
    for recs in cells.values():
        scored = [r for r in recs if r.error is None]
        k, n = sum(r.passed for r in scored), len(scored)
        if len(scored) < len(recs):
            status = "error"
        else:
            status = "pass" if k == n else "fail" if k == 0 else "flaky"
        shown = next((r for r in recs if r.status != "pass"), recs[0])
        lo, hi = wilson(k, n)
        rows.append((status, shown, f"{k}/{n} [{lo:.0%}-{hi:.0%}]" if n else "0/0"))
    return rows


JUDGED = ("llm-rubric", "factuality", "answer-relevance")


def _why(r: CallRecord, verbose: bool = False) -> str:
    """The failing assertions' reasons; with --verbose every reason, and a judge's
    reason always (a model-graded pass should say why it passed)."""
    if r.error is not None:
        return r.error
    shown = [a for a in r.assertions
             if not a.passed or verbose or a.type.removeprefix("not-") in JUDGED]
    mixed = any(a.passed for a in shown) and not all(a.passed for a in shown)
    reasons = [f"{a.type}{(' ✓' if a.passed else ' ✗') if mixed else ''}: {a.reason}"
               for a in shown]
    if r.passed and not reasons:
        return ""
    if r.passed and r.score == 1.0:
        return "; ".join(reasons)
    if r.passed:  # passed through a weighted threshold despite some failures
        return f"score {r.score:.2f} ≥ threshold; " + "; ".join(reasons)
    return "; ".join(reasons) if reasons else f"score {r.score:.2f} below the case threshold"


def show_disagreements(labels: Mapping[RecordKey, LabelView]) -> None:
    """For check and diff, under the diff: each cell whose reviewer's label (reviews/)
    disagrees with the suite's verdict, one line each."""
    # deferred: the labels' module only when there are labels
    from ..gate.labels import cell_views

    odd = [(key, v) for key, v in cell_views(labels).items() if v.disagreement]
    if not odd:
        return
    from rich.text import Text  # start-up: only when something needs rich

    out = __getattr__("out")
    out.print(Text(f"{len(odd)} reviewer disagreement{'s' * (len(odd) != 1)} "
                   "(gap: the assertions miss what the reviewer failed; strict: an "
                   "assertion fails what the reviewer passed):", style="bold"))
    for (suite, case, prompt, model), view in odd:
        out.print(Text(f"  {view.disagreement:<6} {suite}/{case} [{prompt} @ {model}]: "
                       f"{view.words()}"), style="red" if view.disagreement == "gap"
                  else "yellow")


def show_results(result: RunResult, seconds: float, *, quiet: bool, verbose: bool,
                 labels: Mapping[RecordKey, LabelView] | None = None) -> None:
    """The results table (unless quiet) and the summary line."""
    if not quiet:
        out = __getattr__("out")
        table, hidden = results_table(result.records, verbose=verbose, labels=labels)
        if table is not None:
            out.print(table)
        if hidden:
            out.print(f"[dim]{hidden} passing results not shown (--verbose shows all)[/dim]")
    parts = summary_parts(result.summary, seconds, result.run_id)
    if not _plain("".join(text for text, _ in parts)):
        __getattr__("out").print(_text(parts))
    for suite in result.summary.pass_k():  # suites with repeats (run/passk.py)
        _say(f"  {suite.describe()}", highlight=False)
    if result.budget is not None:  # the spend limits: spent, limit, calls not run
        _say(result.budget.describe(), highlight=False)
    if verbose and result.timing is not None:  # where the time went (run/timing.py)
        from ..run.timing import words  # deferred: only with --verbose

        _say(words(result.timing.to_dict()))
    for note in result.notes:  # e.g. a trace collector that did not answer
        _say(f"warning: {note}", stderr=True)


def summary_line(summary: Summary, seconds: float, run_id: str | None) -> Text:
    return _text(summary_parts(summary, seconds, run_id))


def _text(parts: list[tuple[str, str]]) -> Text:
    from rich.text import Text  # start-up: only when something needs rich

    line = Text()
    for text, style in parts:
        line.append(text, style=style)
    return line


def summary_parts(summary: Summary, seconds: float, run_id: str | None
                  ) -> list[tuple[str, str]]:
    """The summary line as (text, style) pieces."""
    parts: list[tuple[str, str]] = []
    n = len(summary.cells)
    parts.append((f"{n} case{'s' if n != 1 else ''}: ", ""))
    parts.append((f"{summary.passed} passed", "green" if summary.passed else ""))
    parts.append((", ", ""))
    parts.append((f"{summary.failed} failed", "red" if summary.failed else ""))
    flaky = len(summary.flaky())
    if flaky:
        parts.append((f" ({flaky} flaky)", "yellow"))
    if summary.errors:
        parts.append((", ", ""))
        parts.append((f"{summary.errors} errors", "yellow"))
    lo, hi = summary.pass_rate_interval()
    extra = [f"pass rate {summary.pass_rate:.1%} [{lo:.0%}, {hi:.0%}]"]
    if summary.samples != n:
        extra.append(f"{summary.samples} samples")
    extra.append(f"{seconds:.2f}s")
    if summary.cached:
        extra.append(f"{summary.cached} cached")
    if summary.retries:
        extra.append(f"{summary.retries} {'retry' if summary.retries == 1 else 'retries'}")
    tokens = summary.tokens_prompt + summary.tokens_completion
    if tokens:
        extra.append(f"{tokens:,} tokens")
    if summary.cost:
        extra.append(f"${summary.cost:.4f}")
    for name, (mean, mlo, mhi, _) in summary.metric_intervals().items():
        extra.append(f"{name} {mean:.2f} [{mlo:.2f}, {mhi:.2f}]")
    for alias, served in sorted(summary.served.items()):  # the snapshot behind an alias
        extra.append(f"{alias} served as " + ", ".join(sorted(served)))
    if run_id:
        extra.append(f"run {run_id}")
    parts.append((" · " + " · ".join(extra), ""))
    return parts

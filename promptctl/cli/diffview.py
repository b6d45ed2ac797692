"""Rich rendering of a baseline diff: a table of what moved, suite lines, a verdict."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from ..gate.diff import word_diff
from ..gate.outcome import CellDiff, DiffReport, SuiteDiff
from ..reports import wording
from ..reports.wording import sample_text, shared_changes
from .output import out, short

if TYPE_CHECKING:
    from ..load.project import Project

STYLE = {"broken": "bold red", "error": "yellow", "tolerated": "magenta",
         "dropped": "magenta", "fixed": "green", "improved": "green", "failing": "red",
         "flaky": "yellow", "changed": "cyan", "new": "blue", "removed": "dim",
         "unchanged": "dim"}
ORDER = wording.ORDER


def diff_text(before: str, after: str, width: int = 200) -> Text:
    text = Text()
    for op, words in word_diff(before, after):
        if text:
            text.append(" ")
        if op == "-":
            text.append(words, style="red strike")
        elif op == "+":
            text.append(words, style="green")
        else:
            text.append(words if len(words) <= 40 else words[:18] + " … " + words[-18:])
    if len(text) > width:
        text.truncate(width - 1)
        text.append("…")
    return text


def _output_cell(d: CellDiff) -> Text:
    if d.sample_counts is not None and d.after is not None:
        # sampled outputs differ by chance: show a failing sample of the candidate
        shown = next((x.output for x in d.after.samples if not x.passed),
                     d.after.samples[0].output)
        return Text(short(shown, 80))
    if d.before and d.after and d.before.outputs != d.after.outputs:
        return diff_text(d.before.outputs[0], d.after.outputs[0])
    cell = d.after or d.before
    return Text(short(cell.outputs[0] if cell else "", 80))


def show_report(report: DiffReport, *, verbose: bool = False) -> None:
    rows = sorted((c for c in report.cells() if verbose or c.status != "unchanged"),
                  key=lambda c: (ORDER[c.status], c.suite, c.case, c.prompt, c.model))
    common = {s.suite: shared_changes(s) for s in report.suites}
    if rows:
        many_prompts = len({c.prompt for c in rows}) > 1
        many_models = len({c.model for c in rows}) > 1
        many_suites = len(report.suites) > 1
        table = Table(pad_edge=False)
        table.add_column("", no_wrap=True)
        if many_suites:
            table.add_column("suite", no_wrap=True)
        table.add_column("case", no_wrap=True)
        if many_prompts:
            table.add_column("prompt", no_wrap=True)
        if many_models:
            table.add_column("model", no_wrap=True)
        table.add_column("output (before -> after)", overflow="fold", ratio=2)
        table.add_column("why", overflow="fold", ratio=1)
        for c in rows:
            cells: list[Text] = [Text(c.status.upper(), style=STYLE[c.status])]
            if many_suites:
                cells.append(Text(c.suite))
            cells.append(Text(c.case))
            if many_prompts:
                cells.append(Text(c.prompt))
            if many_models:
                cells.append(Text(c.model))
            cells.append(_output_cell(c))
            shared = common.get(c.suite)
            why = [*c.reasons[:3], *(shared.left(c) if shared else c.fingerprint)]
            if c.sample_counts is not None:
                why.insert(0, sample_text(c))
            if c.note:
                why.append(c.note)
            cells.append(Text("; ".join(why)))
            table.add_row(*cells)
        out.print(table)
    for s in report.suites:
        out.print(suite_line(s))
    out.print(verdict_line(report))


def suite_line(s: SuiteDiff) -> Text:
    return Text.assemble(*wording.suite_line(s))


def verdict_line(report: DiffReport) -> Text:
    return Text(*wording.verdict(report))


def recent_history(project: Project, report: DiffReport, paths: Sequence[Path] | None
                   ) -> dict[str, str]:
    """The Markdown diff's line per suite of its recent runs, made only when a .md
    report is written (reading the runs costs a little)."""
    if not any(p.suffix.lower() == ".md" for p in paths or []):
        return {}
    # deferred: the history's reader only for a Markdown report
    from ..reports.history_report import recent_lines

    return recent_lines(project, [s.suite for s in report.suites], until=report.run_id)

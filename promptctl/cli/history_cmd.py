"""`promptctl history [SUITE...]`: quality over time, from the saved runs or (--git,
--rev) the baselines' git history, and a drift verdict that --gate turns into exit 1.

`--git` is a flag and `--rev RANGE` names the commits (it implies --git): typer 0.29
has no option whose value may be left out (click's `flag_value` is deprecated there
and not supported), and a flag followed by an optional word would read a suite name as
a revision range."""

# no `from __future__ import annotations`: see cli/main.py

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UserError
from . import common
from .funnel import funnel

if TYPE_CHECKING:
    from ..gate.history import History, SuiteHistory

SuiteNamesArg = Annotated[list[str] | None, typer.Argument(
    help="Suite names (or suite files: their name is the file's stem); default: every "
    "suite in the history.", show_default=False)]
HistoryModelOpt = Annotated[list[str] | None, typer.Option(
    "--model", "-m", metavar="ALIAS", help="Only the cells of this model (its alias, as "
    "the runs name it); repeatable.", show_default=False)]
GitOpt = Annotated[bool, typer.Option(
    "--git", help="Read the history of baselines/ in git instead of the saved runs: one "
    "point per commit that changed a suite's baseline (first-parent history of HEAD). "
    "Takes a range as --git=RANGE or --git A..B (the same as --rev).")]
RevOpt = Annotated[str | None, typer.Option(
    "--rev", metavar="REV_RANGE", help="With --git (implied): the commits to read, e.g. "
    "main~20..main or v1.2..HEAD (default: HEAD).", show_default=False)]
LastOpt = Annotated[int | None, typer.Option(
    "--last", min=1, metavar="N", help="Only the last N points of each suite.",
    show_default=False)]
HistoryOutputOpt = Annotated[list[Path] | None, typer.Option(
    "--output", "-o", help="Write the history; the format comes from the extension: "
    ".json (the document), .html (a page of charts). Repeatable.", show_default=False)]
HistoryAlphaOpt = Annotated[float, typer.Option(
    "--alpha", min=0.0001, max=0.5, help="False-alarm rate of the drift test: the chance "
    "that a history with no change is called a decline.")]
MaxDropOpt = Annotated[float | None, typer.Option(
    "--max-drop", min=0.0, max=1.0, help="The decline (in pass rate, or a metric's mean) "
    "the gate tolerates; default: each suite's max_drop, else 0.05.", show_default=False)]
GateOpt = Annotated[bool, typer.Option(
    "--gate", help="Exit 1 when a suite's decline is significant and larger than "
    "max_drop (for a scheduled CI job).")]


@funnel
def history(
    suites: SuiteNamesArg = None,
    git: GitOpt = False,
    rev: RevOpt = None,
    last: LastOpt = None,
    model: HistoryModelOpt = None,
    output_file: HistoryOutputOpt = None,
    alpha: HistoryAlphaOpt = 0.05,
    max_drop: MaxDropOpt = None,
    gate: GateOpt = False,
    quiet: common.QuietOpt = False,
    config: common.ConfigOpt = None,
) -> None:
    """Pass rate and metrics of each suite over time, what changed between points, and
    whether quality is sliding.

    A point is a saved run (oldest first; unfinished and partial runs are left out with
    a note) or, with --git, a commit that changed the suite's baseline. Per point: cases,
    pass rate with its 95% interval, every named metric, the models, and the changes
    since the point before (prompt edited, model swapped, cases added or removed). Then
    per suite a drift test for a sustained decline (docs/history.md).

    Exit 0 (also with --gate when a suite has too few points for the test), 1 with
    --gate when a decline is significant and larger than max_drop, 2 for bad input."""
    # deferred: keeps --help fast
    from ..gate.history import build, run_history
    from ..reports import check_outputs
    from ..reports.history_report import FORMATS, document, headline, write
    from . import output

    check_outputs(output_file, FORMATS)
    project = common.project(config)
    names = _suite_names(suites)
    if rev is not None or git:
        # deferred: the git source only with --git
        from ..gate.history_git import git_history

        gathered = git_history(project, rev, names, model or [], last=last, alpha=alpha)
        where = "no commit changed a baseline"
    else:
        gathered = run_history(project, names, model or [], last=last, alpha=alpha)
        where = "no saved runs"
    for name in model or []:
        if name not in gathered.models_seen:
            raise UserError(f"model '{name}' is in no point of the history",
                            hint="models in it: " + (", ".join(sorted(gathered.models_seen))
                                                     or "none"))
    for name in names:
        if name not in gathered.points:
            known = ", ".join(sorted(gathered.suites_seen | set(gathered.points))) or "none"
            raise UserError(f"suite '{name}' is in no point of the history",
                            hint=f"suites in it: {known}")
    if not gathered.points:
        notes = "; ".join(gathered.notes)
        raise UserError(f"{where}: no history to show" + (f" ({notes})" if notes else ""),
                        hint="run `promptctl run` or `check` first" if not (git or rev)
                        else "commit baselines written by `promptctl baseline update`")
    result = build(project, gathered, alpha=alpha, max_drop=max_drop, gated=gate)
    if not quiet:
        show(result)
    style = "bold red" if result.failed and gate else "bold yellow" if result.failed \
        else "bold green"
    output.out.print(headline(result), style=style, markup=False)
    doc = document(result)
    for path in output_file or []:
        write(path, doc)
        output.wrote(path)
    raise typer.Exit(result.exit_code)


def _suite_names(targets: list[str] | None) -> list[str]:
    """Suite names; a path names the suite of its file (its stem)."""
    names = []
    for target in targets or []:
        name = Path(target).stem if target.endswith((".yaml", ".yml")) else target
        if not name or "/" in name or "\\" in name:
            raise UserError(f"bad suite name {target!r}", hint="name a suite, e.g. triage, "
                            "or its file, e.g. suites/triage.yaml")
        names.append(name)
    return list(dict.fromkeys(names))


def show(result: "History") -> None:
    """Per suite: a table of its points, its sparkline and its drift sentences."""
    for note in result.notes:
        _dim(note)
    for suite in result.suites:
        _suite(suite)


def _dim(text: str) -> None:
    from rich.text import Text  # deferred: keeps --help fast

    from .output import out

    out.print(Text(text), style="dim")


def _suite(suite: "SuiteHistory") -> None:
    # deferred: keeps --help fast
    from rich.table import Table
    from rich.text import Text

    from ..reports.history_report import cases_cell, metrics_cell, rate_cell, suite_headline
    from .output import out, short

    table = Table(pad_edge=False, title=suite_headline(suite), title_justify="left")
    for name in ("point", "date", "cases", "pass rate [95%]", "metrics"):
        table.add_column(name, no_wrap=True)
    table.add_column("changes", overflow="fold", min_width=20)
    for p in suite.points:
        point = f"{p.label} {short(p.commit['subject'], 32)}" if p.commit else p.id
        table.add_row(Text(point), Text(p.time[:16].replace("T", " ")),
                      cases_cell(p), rate_cell(p), Text(metrics_cell(p)),
                      Text("; ".join(p.changes) or ""))
    out.print(table)
    failing = suite.rate.significant(suite.max_drop)
    out.print(Text(f"  {suite.rate_text}", style="red" if failing else ""))
    for name, text in suite.metric_texts.items():
        style = "red" if suite.metrics[name].significant(suite.max_drop) else ""
        out.print(Text(f"  {text}", style=style))
    if suite.note:
        _dim(f"  {suite.note}")

"""`promptctl compare A B [SUITES...]`: is B better than A? Paired, case by case."""

# no `from __future__ import annotations`: see cli/main.py

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UserError
from . import common
from .check_cmd import AlphaOpt
from .funnel import funnel

if TYPE_CHECKING:
    from ..gate.compare import Comparison

_SIDE = "a prompt (COLLECTION.PROMPT), a model alias or spec, or a run id"
AArg = Annotated[str, typer.Argument(metavar="A", help=f"The baseline: {_SIDE}.",
                                     show_default=False)]
BArg = Annotated[str, typer.Argument(metavar="B", help=f"The candidate: {_SIDE}.",
                                     show_default=False)]
SuiteOpt = Annotated[list[str] | None, typer.Option(
    "--suite", "-s", help="A suite to run (repeatable; same as naming it after A B).",
    show_default=False)]
CompareOutputOpt = Annotated[list[Path] | None, typer.Option(
    "--output", "-o", help="Write the comparison; the format comes from the extension: "
    ".md, .json, .html. Repeatable.", show_default=False)]
LIMIT = 40


@funnel
def compare(
    a: AArg,
    b: BArg,
    suites: common.SuitesArg = None,
    suite: SuiteOpt = None,
    model: common.ModelOpt = None,
    repeat: common.RepeatOpt = None,
    max_repeat: common.MaxRepeatOpt = 5,
    concurrency: common.ConcurrencyOpt = None,
    no_cache: common.NoCacheOpt = False,
    filter: common.FilterOpt = None,
    alpha: AlphaOpt = 0.05,
    output_file: CompareOutputOpt = None,
    quiet: common.QuietOpt = False,
    verbose: common.VerboseOpt = False,
    config: common.ConfigOpt = None,
) -> None:
    """Compare two prompts, two models or two saved runs on the same cases.

    Prompts: each suite runs on A and B in place of its prompts (default: the suites
    that use A or B). Models: each suite runs on A and B. Runs: their records are
    compared, nothing is called. Prints the cases whose outputs differ, wins / losses /
    ties per case, the differences B - A with intervals that agree with the paired test,
    and a paired verdict.

    Exit 0 when the comparison ran (whatever it found), 2 for bad input, 3 when errors
    left cases without a verdict."""
    # deferred: keeps --help fast
    from rich.text import Text

    from ..gate.compare import classify_pair, compare_targets
    from ..reports import check_output_path
    from ..reports.compare_report import FORMATS, write
    from . import output

    for path in output_file or []:
        check_output_path(path, FORMATS)
    project = common.project(config)
    common.check_state(project)
    ta, tb = classify_pair(project, a, b)
    targets = [*(suites or []), *(suite or [])]
    if ta.kind == "run" and (model or repeat or targets or no_cache):
        raise UserError("comparing two runs calls no model: -m, --repeat, --no-cache and "
                        "suites do not apply", hint="only -k filters the runs' cases")
    options = common.run_options(model, repeat, concurrency, no_cache, filter, max_repeat)
    with output.progress(not quiet) as (set_total, advance):
        comp = compare_targets(project, ta, tb, targets, options, alpha=alpha,
                               on_plan=set_total, on_record=advance)
    if not quiet:
        show(comp, verbose=verbose)
    output.out.print(Text(comp.verdict(), style=_style(comp)))
    for path in output_file or []:
        write(path, comp)
        output.err.print(f"wrote {path}", markup=False)
    raise typer.Exit(int(comp.exit_code))


def _style(comp: "Comparison") -> str:
    hit = next((d for d in comp.differences if d.significant), None)
    if hit is None:
        return "bold"
    return "bold green" if hit.diff > 0 else "bold red"


def show(comp: "Comparison", *, verbose: bool) -> None:
    # deferred: keeps --help fast
    from rich.table import Table
    from rich.text import Text

    from ..reports.compare_report import _tally, changed
    from .output import out, short

    out.print(f"A = {comp.a} · B = {comp.b} · {len(comp.pairs)} cases "
              f"x up to {comp.repeats} samples ({comp.kind}s)", markup=False)
    rows = changed(comp)
    if rows:
        table = Table(pad_edge=False, title="cases that differ", title_justify="left")
        for name in ("case", "A", "B"):
            table.add_column(name, no_wrap=True)
        table.add_column("A output", overflow="fold", ratio=1, min_width=20)
        table.add_column("B output", overflow="fold", ratio=1, min_width=20)
        for p in rows if verbose else rows[:LIMIT]:
            ra, rb = p.first("a"), p.first("b")
            table.add_row(Text(p.label), _tally(p.a), _tally(p.b),
                          Text(short(ra.output or ra.error, 80)),
                          Text(short(rb.output or rb.error, 80)))
        out.print(table)
        if not verbose and len(rows) > LIMIT:
            out.print(f"[dim]{len(rows) - LIMIT} more (--verbose shows all)[/dim]")
    for side, keys in (("A", comp.only_a), ("B", comp.only_b)):
        if keys:
            out.print(f"[dim]{len(keys)} cases only in {side}, not compared[/dim]")
    if comp.unscored:
        out.print(f"[yellow]{len(comp.unscored)} cases have no verdict: errors[/yellow]")
    for d in comp.differences:
        out.print(f"{d.name}: A {d.fmt(d.a, False)} · B {d.fmt(d.b, False)} · "
                  f"B wins {d.wins}, loses {d.losses}, ties {d.ties}", markup=False)
        if len(comp.differences) > 1 or not d.significant:
            out.print(f"  {d.verdict()}", markup=False)

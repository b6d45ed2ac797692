"""`promptctl robust [SUITE...]`: clean vs perturbed cells, drop rates, a gate."""

# no `from __future__ import annotations`: see cli/main.py

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UserError
from . import common
from .check_cmd import AlphaOpt
from .funnel import funnel

if TYPE_CHECKING:
    from ..gate.robust import Robustness, Row, SuiteResult

RunOpt = Annotated[str | None, typer.Option(
    "--run", metavar="RUN", help="Analyse a saved run (a run id, a unique prefix, or "
    "latest) instead of running the suites: no model is called.", show_default=False)]
PerturbationOpt = Annotated[list[str] | None, typer.Option(
    "--perturbation", "-p", metavar="ID", help="Only this perturbation (its id: the "
    "part after '~' in a variant's case id); repeatable.", show_default=False)]
RobustOutputOpt = Annotated[list[Path] | None, typer.Option(
    "--output", "-o", help="Write the verdicts; the format comes from the extension: "
    ".json, .md, .html. Repeatable.", show_default=False)]
LIMIT = 12  # case ids shown per flip direction (--verbose: all)


@funnel
def robust(
    suites: common.SuitesArg = None,
    model: common.ModelOpt = None,
    run: RunOpt = None,
    perturbation: PerturbationOpt = None,
    repeat: common.RepeatOpt = None,
    max_repeat: common.MaxRepeatOpt = 5,
    resample: common.ResampleOpt = False,
    concurrency: common.ConcurrencyOpt = None,
    no_cache: common.NoCacheOpt = False,
    filter: common.FilterOpt = None,
    alpha: AlphaOpt = 0.05,
    output_file: RobustOutputOpt = None,
    quiet: common.QuietOpt = False,
    verbose: common.VerboseOpt = False,
    config: common.ConfigOpt = None,
) -> None:
    """Run each suite's clean and perturbed cells and say how much each perturbation
    moves the pass rate.

    Per suite and perturbation: clean and perturbed pass rates with intervals, the drop
    (paired, each case its own control) with its interval and p-value (Holm over the
    suite's perturbations), PDR = 1 - perturbed / clean, and the cases that flip. A
    perturbation with `max_drop` is a gate. -k selects cases (a clean case brings its
    variants along). With --run, a saved run is analysed and nothing is called.

    Exit 0 when no gate failed, 1 when one did (its drop is significant and larger than
    its max_drop), 2 for bad input (including no perturbation to run), 3 when errors
    left cases without a verdict."""
    # deferred: keeps --help fast
    from ..gate.robust_run import robust_run, robust_saved
    from ..load.filters import check_filter
    from ..reports import check_outputs
    from ..reports.robust_report import FORMATS, write
    from ..reports.robust_text import headline
    from . import output

    check_outputs(output_file, FORMATS)
    project = common.project(config)
    if run is not None:
        if model or repeat or no_cache or resample:
            raise UserError("--run analyses a saved run and calls no model: -m, --repeat, "
                            "--no-cache and --resample do not apply",
                            hint="only suites, -k and -p narrow a saved run")
        names = [p.stem for p in project.suite_paths(suites)] if suites else []
        result = robust_saved(project, run, names, filter=check_filter(filter),
                              perturbations=perturbation or [], alpha=alpha)
    else:
        common.check_state(project)
        options = common.run_options(model, repeat, concurrency, no_cache, filter,
                                     max_repeat, resample)
        loaded = common.load_suites(project, suites, model)
        with output.progress(not quiet) as (set_total, advance):
            result = robust_run(project, loaded, options, alpha=alpha,
                                perturbations=perturbation or [], on_plan=set_total,
                                on_record=advance)
    if not quiet:
        show(result, verbose=verbose)
    style = {0: "bold green", 1: "bold red"}.get(int(result.exit_code), "bold yellow")
    output.out.print(headline(result), style=style, markup=False)
    for path in output_file or []:
        write(path, result)
        output.wrote(path)
    raise typer.Exit(int(result.exit_code))


def show(result: "Robustness", *, verbose: bool) -> None:
    """Per suite: the table of perturbations, then the cases that flip."""
    # deferred: keeps --help fast
    from rich.table import Table
    from rich.text import Text

    from ..reports.robust_text import drop_short, label, pdr, side_short, suite_line
    from .output import out

    if result.run_id:
        out.print(f"run {result.run_id}", markup=False, style="dim")
    level = f"{(1 - result.alpha) * 100:.1f}".removesuffix(".0") + "%"
    for suite in result.suites:
        table = Table(pad_edge=False, title=suite_line(suite, result), title_justify="left")
        for name in ("perturbation", f"clean [{level}]", "perturbed", "drop [CI]", "PDR",
                     "p (Holm)"):
            table.add_column(name, no_wrap=True)
        table.add_column("verdict", overflow="fold", min_width=16)
        for row in suite.rows:
            style = "red" if row.gate == "fail" else "yellow" if row.significant and \
                (row.drop or 0) > 0 else ""
            table.add_row(Text(label(suite, row)), side_short(row.clean),
                          side_short(row.perturbed), drop_short(row, result.alpha), pdr(row),
                          "-" if row.test is None else f"{row.test.adjusted:.2g}",
                          Text(row.verdict(), style=style))
        out.print(table)
        for row in suite.rows:
            _details(suite, row, verbose=verbose)
    if result.skipped:
        out.print("no perturbations declared, nothing to do: " + ", ".join(result.skipped),
                  markup=False, style="dim")


def _details(suite: "SuiteResult", row: "Row", *, verbose: bool) -> None:
    # deferred: keeps --help fast
    from rich.text import Text

    from ..reports.robust_text import label, pct
    from .output import out, short

    name = label(suite, row)
    for word, ids in (("pass -> fail", row.pass_to_fail), ("fail -> pass", row.fail_to_pass),
                      ("no verdict (errors)", row.unscored)):
        if ids:
            shown = ids if verbose else ids[:LIMIT]
            more = f" ... and {len(ids) - len(shown)} more" if len(ids) > len(shown) else ""
            out.print(Text(f"  {name} {word} ({len(ids)}): {', '.join(shown)}{more}"))
    if row.missing:
        out.print(Text(f"  {name}: {len(row.missing)} variants have no clean cell in the "
                       "run, not compared"), style="dim")
    if row.test is not None and row.test.note and not row.significant:
        out.print(Text(f"  {name}: {row.test.note}"), style="dim")
    if row.pdr_note:
        out.print(Text(f"  {name}: PDR {row.pdr_note}"), style="dim")
    for m in row.metrics:
        word = "significant" if m.test.significant else "no detectable change"
        out.print(Text(f"  {name} metric {m.name}: {m.clean.value:.3f} -> "
                       f"{m.perturbed.value:.3f} ({m.test.p_text()}, {word})"))
    if row.contrasts:
        out.print(Text(f"  {name}: {row.contrast_count} cases differ between the sides "
                       "([-clean-] {+perturbed+})"))
        for c in row.contrasts if verbose else row.contrasts[:5]:
            out.print(Text(f"    {c.case} {pct(c.clean_rate)} -> {pct(c.perturbed_rate)}: "
                           f"{short(_plain(c.output_diff()), 120)}"))


def _plain(ops: list[tuple[str, str]]) -> str:
    mark = {"-": "[-{}-]", "+": "{{+{}+}}", " ": "{}"}
    return " ".join(mark[op].format(words) for op, words in ops if words)

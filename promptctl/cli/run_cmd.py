"""`promptctl run`: run suites, print a results table and a summary."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from ..errors import UserError
from . import common, output
from .funnel import funnel


@funnel
def run(
    suites: Annotated[list[str] | None, typer.Argument(
        help="Suite files, directories, or names in suites/ (default: all).",
        show_default=False)] = None,
    model: common.ModelOpt = None,
    repeat: common.RepeatOpt = None,
    concurrency: common.ConcurrencyOpt = None,
    no_cache: common.NoCacheOpt = False,
    filter: common.FilterOpt = None,
    output_file: common.OutputOpt = None,
    quiet: common.QuietOpt = False,
    verbose: common.VerboseOpt = False,
    config: common.ConfigOpt = None,
) -> None:
    """Run suites on their models and score every output.

    Exit 0 when every case passed, 1 when any failed, 3 when errors left cases without
    a verdict, 2 for bad input."""
    from ..reports import check_output_path, write_report
    from ..runner import RunOptions, run_suites

    if output_file is not None:
        check_output_path(output_file)
    project = common.project(config)
    models = list(model or [])
    loaded = [project.load_suite(p, models=models) for p in project.suite_paths(suites or [])]
    options = RunOptions(models=models, repeat=repeat, concurrency=concurrency,
                         use_cache=not no_cache, filter=filter)
    start = time.perf_counter()
    with output.progress(not quiet) as (set_total, advance):
        result = run_suites(project, loaded, options, on_plan=set_total, on_record=advance)
    seconds = time.perf_counter() - start
    if not result.records:
        raise UserError(f"no case matches --filter {filter!r}" if filter
                        else "the suites have no cases", hint="check the case ids")
    if not quiet:
        table, hidden = output.results_table(result.records, verbose=verbose)
        if table is not None:
            output.out.print(table)
        if hidden:
            output.out.print(f"[dim]{hidden} passing results not shown (--verbose shows "
                             "all)[/dim]")
    output.out.print(output.summary_line(result.summary, seconds, result.run_id))
    if output_file is not None:
        write_report(output_file, result)
        output.err.print(f"wrote {output_file}")
    raise typer.Exit(int(result.exit_code))


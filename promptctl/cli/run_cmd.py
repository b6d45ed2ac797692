"""`promptctl run`: run suites, print a results table and a summary."""

from __future__ import annotations

import time

import typer

from . import common
from .funnel import funnel


@funnel
def run(
    suites: common.SuitesArg = None,
    model: common.ModelOpt = None,
    repeat: common.RepeatOpt = None,
    max_repeat: common.MaxRepeatOpt = 5,
    resample: common.ResampleOpt = False,
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
    from ..reports import RUN_FORMATS, ReportData
    from ..runner import run_suites
    from . import output
    from .check_cmd import check_outputs, write_outputs

    check_outputs(output_file, RUN_FORMATS)
    project = common.project(config)
    loaded = common.load_suites(project, suites, model)
    options = common.run_options(model, repeat, concurrency, no_cache, filter,
                                 max_repeat, resample)
    start = time.perf_counter()
    with output.progress(not quiet) as (set_total, advance):
        result = run_suites(project, loaded, options, on_plan=set_total, on_record=advance)
    output.show_results(result, time.perf_counter() - start, quiet=quiet, verbose=verbose)
    write_outputs(output_file, ReportData.of(result))
    raise typer.Exit(int(result.exit_code))


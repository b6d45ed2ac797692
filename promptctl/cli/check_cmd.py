"""`promptctl check`: run, then diff against the baselines. The CI gate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from . import common
from .funnel import funnel

StrictOpt = Annotated[bool, typer.Option(
    "--strict", help="Any output change counts as a failure (for deterministic models "
    "at temperature 0).")]
AllowMissingOpt = Annotated[bool, typer.Option(
    "--allow-missing", help="Accept suites that have no baseline yet (their cases are new).")]
AlphaOpt = Annotated[float, typer.Option(
    "--alpha", min=0.0001, max=0.5, help="False-alarm rate for sampled cases: the chance "
    "that pure sampling noise fails the check.")]
DiffOutputOpt = Annotated[list[Path] | None, typer.Option(
    "--output", "-o", help="Write a report; the format comes from the extension: .md (the "
    "pull-request comment), .json (the diff), .xml (JUnit), .html. Repeatable.",
    show_default=False)]


@funnel
def check(
    suites: common.SuitesArg = None,
    model: common.ModelOpt = None,
    repeat: common.RepeatOpt = None,
    max_repeat: common.MaxRepeatOpt = 5,
    resample: common.ResampleOpt = False,
    concurrency: common.ConcurrencyOpt = None,
    no_cache: common.NoCacheOpt = False,
    no_perturb: common.NoPerturbOpt = False,
    batch: common.BatchOpt = False,
    filter: common.FilterOpt = None,
    shard: common.ShardOpt = None,
    max_cost: common.MaxCostOpt = None,
    max_tokens: common.MaxTokensOpt = None,
    dry_run: common.DryRunOpt = False,
    strict: StrictOpt = False,
    allow_missing: AllowMissingOpt = False,
    alpha: AlphaOpt = 0.05,
    changed_since: common.ChangedSinceOpt = None,
    output_file: DiffOutputOpt = None,
    quiet: common.QuietOpt = False,
    verbose: common.VerboseOpt = False,
    trace: common.TraceOpt = False,
    trace_contents: common.TraceContentsOpt = False,
    config: common.ConfigOpt = None,
) -> None:
    """Run the suites and compare every case with its baseline.

    Exit 0 when nothing regressed, 1 when something did, 2 for bad input (including a
    suite with no baseline), 3 when errors left cases without a verdict. A case that
    already failed in the baseline is not a regression."""
    # deferred: keeps --help fast
    from ..gate.check import check as run_check
    from ..reports import ReportData, check_outputs, write_outputs
    from ..run.plan import plan
    from . import output
    from .diffview import recent_history, show_report, verdict_line

    timing = common.clock()
    check_outputs(output_file)
    project = common.project(config, timing)
    common.check_state(project)
    loaded = common.load_suites(project, suites, model, timing)
    options = common.run_options(model, repeat, concurrency, no_cache, filter,
                                 max_repeat, resample, shard, no_perturb=no_perturb,
                                 batch=batch,
                                 max_cost=max_cost, max_tokens=max_tokens)
    common.traced(options, timing, trace, trace_contents)
    if dry_run:
        from .dryrun import dry_run as show_plan  # deferred: only for --dry-run

        show_plan(project, suites, model, options, output_file,
                  changed_since=changed_since, loaded=loaded)
        raise typer.Exit(0)
    if not common.select_changed(project, loaded, options, changed_since):
        raise typer.Exit(0)
    plan(project, loaded, options)  # a template error comes before a missing baseline
    start = time.perf_counter()
    with output.progress(not quiet) as (set_total, advance):
        result, report = run_check(project, loaded, options, strict=strict,
                                   allow_missing=allow_missing, alpha=alpha, on_plan=set_total,
                                   on_record=advance)
    output.show_results(result, time.perf_counter() - start, quiet=True, verbose=False)
    if not quiet:
        show_report(report, verbose=verbose)
    else:
        output.out.print(verdict_line(report))
    data = ReportData.of(result, report)
    data.history = recent_history(project, report, output_file)
    data.labels = common.labels_of(project, lambda: result.records)
    if not quiet:
        output.show_disagreements(data.labels)
    write_outputs(output_file, data, output.wrote)
    # calls the budget left not run: the run is unfinished, whatever the diff says
    raise typer.Exit(3 if result.summary.not_run else int(report.exit_code))

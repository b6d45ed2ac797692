"""`promptctl run`: run suites, print a results table and a summary."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UserError
from . import common
from .funnel import funnel

if TYPE_CHECKING:
    from ..load.project import Project
    from ..run.options import RunOptions
    from ..run.runner import RunResult

ResumeOpt = Annotated[bool, typer.Option(
    "--resume", help="Continue a run that was stopped or killed, from its records: the "
    "run id is the argument (default: the latest run); its suites and options are "
    "reused, recorded calls are not made again.")]
RetryErrorsOpt = Annotated[bool, typer.Option(
    "--retry-errors", help="Call again only the calls of a run (the argument, default: "
    "the latest) that ended in an error; their new records replace the errors. Also "
    "finishes the run if it was killed. Implies --resume.")]
WatchOpt = Annotated[bool, typer.Option(
    "--watch", "-w", help="Keep running: on every save of a prompt, template, suite, data "
    "file or promptctl.yaml run again only the cases it affects; Ctrl-C stops.")]


def explicit_flags(ctx: typer.Context) -> set[str]:
    """The plan-shaping flags given on the command line (not left at their default)."""
    from ..run.options import PLAN_FLAGS  # deferred: keeps --help fast

    out = set()
    for f in PLAN_FLAGS:
        source = ctx.get_parameter_source(f.param)
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            out.add(f.flag)
    return out


@funnel
def run(
    ctx: typer.Context,
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
    resume: ResumeOpt = False,
    retry_errors: RetryErrorsOpt = False,
    changed_since: common.ChangedSinceOpt = None,
    watch: WatchOpt = False,
    output_file: common.OutputOpt = None,
    quiet: common.QuietOpt = False,
    verbose: common.VerboseOpt = False,
    trace: common.TraceOpt = False,
    trace_contents: common.TraceContentsOpt = False,
    config: common.ConfigOpt = None,
) -> None:
    """Run suites on their models and score every output.

    With --resume [RUN] (or --retry-errors [RUN]) the argument is a run id, not a suite:
    the run continues in its own folder and ends as an uninterrupted run would have.

    Exit 0 when every case passed, 1 when any failed, 3 when errors left cases without
    a verdict, 2 for bad input."""
    # deferred: keeps --help fast
    from ..reports import RUN_FORMATS, ReportData, check_outputs, write_outputs
    from . import output

    timing = common.clock()
    check_outputs(output_file, RUN_FORMATS)
    project = common.project(config, timing)
    common.check_state(project)
    options = common.run_options(model, repeat, concurrency, no_cache, filter,
                                 max_repeat, resample, shard, no_perturb=no_perturb,
                                 batch=batch,
                                 max_cost=max_cost, max_tokens=max_tokens)
    common.traced(options, timing, trace, trace_contents)
    if dry_run:
        from .dryrun import dry_run as show_plan  # deferred: only for --dry-run

        show_plan(project, suites, model, options, output_file, resume=resume or retry_errors,
                  changed_since=changed_since)
        raise typer.Exit(0)
    if (resume or retry_errors) and (changed_since or watch):
        raise UserError("--resume and --retry-errors take the run's own cells",
                        hint="leave out --changed-since and --watch")
    if watch:
        if output_file or changed_since:
            raise UserError("--watch does not write reports or take --changed-since",
                            hint="leave out -o and --changed-since")
        # in-function: watchview brings in watchfiles, which only --watch needs
        from .watchview import run_watch

        run_watch(project.root, suites or [], options, config, verbose=verbose)
        raise typer.Exit(0)
    start = time.perf_counter()
    if resume or retry_errors:
        result = _resume(ctx, project, suites or [], options, concurrency,
                         retry_errors=retry_errors, quiet=quiet)
    else:
        result = _run_new(project, suites, model, options, changed_since, quiet=quiet)
    labels = common.labels_of(project, lambda: result.records) \
        if output_file or not quiet else {}
    output.show_results(result, time.perf_counter() - start, quiet=quiet, verbose=verbose,
                        labels=labels)
    if output_file:  # reading the records back only when a report needs them
        data = ReportData.of(result)
        data.labels = labels
        write_outputs(output_file, data, output.wrote)
    raise typer.Exit(int(result.exit_code))


def _resume(ctx: typer.Context, project: Project, targets: list[str],
            options: RunOptions, concurrency: int | None, *, retry_errors: bool,
            quiet: bool) -> RunResult:
    """--resume / --retry-errors: continue the run named by the one argument (default:
    the latest) with its own suites and options; flags given again must agree."""
    # deferred: only with --resume; keeps --help and run fast
    from ..gate.check import resume_run
    from ..run.options import check_flags
    from ..run.resume import describe, prepare
    from . import output

    if len(targets) > 1:
        raise UserError("--resume takes at most one argument, the run id: the suites "
                        "and options come from the run",
                        hint="promptctl run --resume [RUN]; start a new run to choose "
                             "suites")
    target = prepare(project, targets[0] if targets else None, concurrency=concurrency)
    # the limits are this command's (flags, else promptctl.yaml), not the run's: a
    # resume may raise them (run/budget.py)
    target.options.max_cost, target.options.max_tokens = options.max_cost, options.max_tokens
    check_flags(target.run_id, target.options, options, explicit_flags(ctx))
    # --batch: a resume sends the calls no batch holds as the run did; --retry-errors
    # online, unless --batch is given again (run/batch.py collects listed batches anyway)
    target.options.batch = options.batch or (target.options.batch and not retry_errors)
    assert options.timing is not None
    common.traced(target.options, options.timing, bool(options.trace),
                  bool(options.trace_contents))
    if not quiet:
        output.err.print(describe(target, retry_errors), highlight=False, markup=False)
    with output.progress(not quiet) as (set_total, advance):
        return resume_run(project, target, retry_errors=retry_errors,
                          on_plan=set_total, on_record=advance)


def _run_new(project: Project, suites: list[str] | None, model: list[str] | None,
             options: RunOptions, changed_since: str | None, *, quiet: bool) -> RunResult:
    """A new run of the suites (only the cells changed since a git ref with
    --changed-since; exit 0 at once when none did)."""
    # deferred: keeps --help fast
    from ..run.runner import run_suites
    from . import output

    loaded = common.load_suites(project, suites, model, options.timing)
    if not common.select_changed(project, loaded, options, changed_since):
        raise typer.Exit(0)
    with output.progress(not quiet) as (set_total, advance):
        return run_suites(project, loaded, options, on_plan=set_total, on_record=advance)

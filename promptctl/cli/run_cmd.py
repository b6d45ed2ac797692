"""`promptctl run`: run suites, print a results table and a summary."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UserError
from . import common
from .funnel import funnel

if TYPE_CHECKING:
    from ..run.options import RunOptions

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
    filter: common.FilterOpt = None,
    shard: common.ShardOpt = None,
    resume: ResumeOpt = False,
    retry_errors: RetryErrorsOpt = False,
    changed_since: common.ChangedSinceOpt = None,
    watch: WatchOpt = False,
    output_file: common.OutputOpt = None,
    quiet: common.QuietOpt = False,
    verbose: common.VerboseOpt = False,
    config: common.ConfigOpt = None,
) -> None:
    """Run suites on their models and score every output.

    With --resume [RUN] (or --retry-errors [RUN]) the argument is a run id, not a suite:
    the run continues in its own folder and ends as an uninterrupted run would have.

    Exit 0 when every case passed, 1 when any failed, 3 when errors left cases without
    a verdict, 2 for bad input."""
    # deferred: keeps --help fast
    from ..reports import RUN_FORMATS, ReportData
    from ..run.runner import run_suites
    from . import output
    from .check_cmd import check_outputs, write_outputs

    check_outputs(output_file, RUN_FORMATS)
    project = common.project(config)
    common.check_state(project)
    options = common.run_options(model, repeat, concurrency, no_cache, filter,
                                 max_repeat, resample, shard)
    if (resume or retry_errors) and (changed_since or watch):
        raise UserError("--resume and --retry-errors take the run's own cells",
                        hint="leave out --changed-since and --watch")
    if watch:
        if output_file or changed_since:
            raise UserError("--watch does not write reports or take --changed-since",
                            hint="leave out -o and --changed-since")
        _watch(project.root, suites or [], options, config, verbose=verbose)
        raise typer.Exit(0)
    start = time.perf_counter()
    if resume or retry_errors:
        # deferred: only with --resume; keeps run fast
        from ..gate.check import resume_run
        from ..run.options import check_flags
        from ..run.resume import describe, prepare

        targets = suites or []
        if len(targets) > 1:
            raise UserError("--resume takes at most one argument, the run id: the suites "
                            "and options come from the run",
                            hint="promptctl run --resume [RUN]; start a new run to choose "
                                 "suites")
        target = prepare(project, targets[0] if targets else None, concurrency=concurrency)
        check_flags(target.run_id, target.options, options, explicit_flags(ctx))
        if not quiet:
            output.err.print(describe(target, retry_errors), highlight=False, markup=False)
        with output.progress(not quiet) as (set_total, advance):
            result = resume_run(project, target, retry_errors=retry_errors,
                                on_plan=set_total, on_record=advance)
    else:
        loaded = common.load_suites(project, suites, model)
        if not common.select_changed(project, loaded, options, changed_since):
            raise typer.Exit(0)
        with output.progress(not quiet) as (set_total, advance):
            result = run_suites(project, loaded, options, on_plan=set_total,
                                on_record=advance)
    output.show_results(result, time.perf_counter() - start, quiet=quiet, verbose=verbose)
    if output_file:  # reading the records back only when a report needs them
        write_outputs(output_file, ReportData.of(result))
    raise typer.Exit(int(result.exit_code))


MARKS = {"new": ("+", "cyan"), "better": ("↑", "green"), "worse": ("↓", "red"),
         "output": ("~", "yellow")}


def _watch(root: Path, targets: list[str], options: RunOptions, config: Path | None, *,
           verbose: bool) -> None:
    """The terminal side of watch.watch: after each run, the full table again, with
    the cells that changed since the previous save marked, and the summary line."""
    import threading

    from rich.table import Table
    from rich.text import Text

    from ..boundary import display_path
    from ..errors import PromptctlError
    from ..integrations.watch import WatchResult, watch
    from . import output
    from .funnel import error_line

    def show(res: WatchResult) -> None:
        if output.out.is_terminal:
            output.out.clear()
        changed = {k: v for k, v in res.changed.items()}
        table = Table(pad_edge=False, expand=False)
        for name in ("", "", "suite", "case", "prompt", "model"):
            table.add_column(name, no_wrap=True)
        table.add_column("output", overflow="fold", ratio=3, min_width=24)
        table.add_column("why", overflow="fold", ratio=2, min_width=16)
        rows = []
        for rec in res.records:
            key = rec.cell
            how = changed.get(key)
            if rec.status == "pass" and how is None and not verbose:
                continue
            rows.append((how is None, output.ORDER[rec.status], rec, how))
        rows.sort(key=lambda r: (r[0], r[1]))
        for _, _, rec, how in rows[: output.TABLE_LIMIT if not verbose else None]:
            mark, style = MARKS.get(how or "", ("", ""))
            table.add_row(Text(mark, style=style),
                          Text(rec.status.upper(), style=output.STATUS_STYLE[rec.status]),
                          Text(rec.suite), Text(rec.case), Text(rec.prompt),
                          Text(rec.model),
                          Text(output.short(rec.output) + (" (cached)" if rec.cached else "")),
                          Text(output._why(rec, verbose)))
        if rows:
            output.out.print(table)
        output.out.print(output.summary_line(res.summary, res.seconds, None))
        if res.first:
            what = f"ran {len(res.ran)} of {res.total} cases"
        else:
            files = ", ".join(display_path(p) for p in res.files[:3]) or "a file"
            what = (f"{files} saved: ran {len(res.ran)} of {res.total} cases again, "
                    f"{len(res.changed)} changed (+ new, ↑ better, ↓ worse, ~ other output)")
        output.out.print(Text(f"{what} · watching for changes, Ctrl-C stops", style="dim"))

    def fail(exc: PromptctlError) -> None:
        output.err.print(error_line(exc), markup=False)
        output.err.print("[dim]watching for changes, Ctrl-C stops[/dim]")

    stop = threading.Event()
    try:
        watch(root, options, show, stop, targets=targets, config=config, on_error=fail)
    except KeyboardInterrupt:
        stop.set()

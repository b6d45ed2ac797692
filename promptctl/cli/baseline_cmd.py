"""`promptctl baseline update`: write baselines/ from a fresh run or a saved one."""

# no `from __future__ import annotations`: see cli/main.py

import time
from typing import Annotated

import typer

from ..errors import InfraError, UserError
from . import common
from .funnel import funnel
from .params import App

app = App(help="Manage the stored baselines in baselines/.", no_args_is_help=True)


@app.command("update")
@funnel
def update(
    suites: common.SuitesArg = None,
    run: Annotated[str | None, typer.Option(
        "--run", help="Take the outputs from this saved run id ('latest' for the last "
        "run) instead of running now.", show_default=False)] = None,
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
    quiet: common.QuietOpt = False,
    trace: common.TraceOpt = False,
    trace_contents: common.TraceContentsOpt = False,
    config: common.ConfigOpt = None,
) -> None:
    """Write baselines/<suite>.json: every case's outputs, assertion scores and
    fingerprint. With --filter only the matching cases are replaced; with --no-perturb
    only the clean ones (the perturbed variants' entries are kept).

    Never runs as a side effect of another command: updates are always explicit."""
    # deferred: keeps --help fast
    from ..boundary import display_path
    from ..gate.check import load_baselines, update_baselines
    from ..run.meta import load_run
    from ..run.runner import run_suites
    from . import output

    if run is not None and dry_run:
        raise UserError("--dry-run shows the plan of a new run; --run takes a saved one",
                        hint="leave out one of them")
    timing = common.clock()
    project = common.project(config, timing)
    common.check_state(project, "baselines")
    if run is None:
        common.check_state(project)
    if run is not None:
        saved = load_run(project, None if run == "latest" else run)
        wanted = {p.stem for p in project.suite_paths(suites)} if suites else None
        loaded = [s for s in saved.suites if wanted is None or s.name in wanted]
        records = [r for r in saved.records if r.suite in {s.name for s in loaded}]
        partial = saved.filtered
    else:
        loaded = common.load_suites(project, suites, model, timing)
        if dry_run:
            from .dryrun import dry_run as show_plan  # deferred: only for --dry-run

            show_plan(project, suites, model, common.run_options(
                model, repeat, concurrency, no_cache, filter, max_repeat, resample, shard,
                no_perturb=no_perturb, max_cost=max_cost, max_tokens=max_tokens), None,
                loaded=loaded)
            raise typer.Exit(0)
        if filter is not None or shard is not None or no_perturb:
            # a partial update keeps the other cases of each file: read them first, so
            # that a broken one fails before any model time is spent
            load_baselines(project, loaded, allow_missing=True)
        options = common.run_options(model, repeat, concurrency, no_cache, filter,
                                 max_repeat, resample, shard, no_perturb=no_perturb,
                                 batch=batch,
                                 max_cost=max_cost, max_tokens=max_tokens)
        common.traced(options, timing, trace, trace_contents)
        start = time.perf_counter()
        with output.progress(not quiet) as (set_total, advance):
            result = run_suites(project, loaded, options, on_plan=set_total,
                                on_record=advance)
        output.show_results(result, time.perf_counter() - start, quiet=True, verbose=False)
        if result.summary.not_run:  # the budget stopped the run: finish it, then update
            n = result.summary.not_run
            raise InfraError(f"{n} call{'s' * (n != 1)} not run: the budget was reached; "
                             "no baseline written",
                             hint=f"promptctl run --resume {result.run_id} with a higher "
                                  "--max-cost/--max-tokens, then promptctl baseline update "
                                  f"--run {result.run_id}")
        # --no-perturb updates the clean cases and keeps the variants' entries
        records = result.records
        partial = filter is not None or shard is not None or no_perturb
    written = update_baselines(project, loaded, records, partial=partial)
    for w in written:
        line = f"wrote {display_path(w.path)}: {w.cases} cases, {w.passed} passing"
        if w.previous is not None:
            counts = w.previous.counts()
            moved = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if k != "unchanged")
            line += f" (vs previous: {moved or 'no changes'})"
        elif w.replaced_broken:
            line += " (replaced an unreadable baseline)"
        else:
            line += " (new baseline)"
        output.out.print(line, markup=False)
    if not written:
        output.err.print("no baseline written: the run has no results for these suites")

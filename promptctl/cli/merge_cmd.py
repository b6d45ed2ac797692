"""`promptctl merge RUN...`: join shard runs into one run that diff, reports and
`baseline update --run` accept."""

# no `from __future__ import annotations`: see cli/main.py

from typing import Annotated

import typer

from . import common
from .funnel import funnel


@funnel
def merge(
    runs: Annotated[list[str], typer.Argument(
        help="Runs to join: run ids (or unique prefixes) in .promptctl/runs, run "
        "directories, or runs directories (their latest run), e.g. downloaded CI "
        "artifacts of .promptctl/runs.", show_default=False)],
    allow_partial: Annotated[bool, typer.Option(
        "--allow-partial", help="Merge even when some shards of the I/N split are "
        "missing (the merged run then covers part of the suites).")] = False,
    output_file: common.OutputOpt = None,
    quiet: common.QuietOpt = False,
    config: common.ConfigOpt = None,
) -> None:
    """Join the runs of `--shard I/N` machines into one new run in .promptctl/runs
    (records deduplicated, meta listing the sources, summary recomputed); it becomes
    the latest run, so `promptctl diff` compares it with the baselines next.

    Exit 0 when the runs were joined (the verdict comes from `diff`), 2 when they
    cannot be: a shard missing or unfinished, different options, or the same call
    with different results in two runs."""
    # deferred: keeps --help fast
    from ..boundary import display_path
    from ..reports import RUN_FORMATS, ReportData, check_outputs, write_outputs
    from ..run.sharding import merge_runs
    from ..schema import format_shard
    from . import output

    check_outputs(output_file, RUN_FORMATS)
    project = common.project(config)
    common.check_state(project)
    merged = merge_runs(project, runs, allow_partial=allow_partial)
    if not quiet:
        for src in merged.sources:
            shard = format_shard(src.shard)
            output.err.print(f"  {src.run_id}" + (f" (shard {shard})" if shard else "")
                             + f": {len(src.records)} calls", highlight=False, markup=False)
    s = merged.summary
    count = next((src.shard[1] for src in merged.sources if src.shard), 0)
    note = ("; missing shards " + ", ".join(f"{i}/{count}" for i in merged.missing_shards)
            if merged.missing_shards else "")
    n = len(merged.sources)
    output.out.print(f"merged {n} run{'s' * (n != 1)} into {display_path(merged.path)}: "
                     f"{len(merged.records)} calls, {len(s.cells)} cases: {s.passed} passed, "
                     f"{s.failed} failed, {s.errors} errors{note}", highlight=False,
                     markup=False)
    data = ReportData(merged.run_id, merged.started, merged.finished, merged.records,
                      merged.summary)
    data.labels = common.labels_of(project, lambda: merged.records)
    write_outputs(output_file, data, output.wrote)

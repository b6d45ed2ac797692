"""`promptctl diff [RUN]`: compare a finished run with the baselines."""

# no `from __future__ import annotations`: see cli/main.py

from typing import Annotated

import typer

from .check_cmd import AllowMissingOpt, AlphaOpt, DiffOutputOpt, StrictOpt
from .common import ConfigOpt, QuietOpt, VerboseOpt, labels_of, project
from .funnel import funnel


@funnel
def diff(
    run: Annotated[str | None, typer.Argument(
        help="Run id (or a unique prefix) in .promptctl/runs; default: the latest.",
        show_default=False)] = None,
    strict: StrictOpt = False,
    allow_missing: AllowMissingOpt = False,
    alpha: AlphaOpt = 0.05,
    output_file: DiffOutputOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Compare a run with the baselines, case by case: fixed, broken, still failing,
    changed, new, removed, and fingerprint changes. Same exit codes as `check`."""
    # deferred: keeps --help fast
    from ..gate.check import diff_saved
    from ..reports import ReportData, check_outputs, write_outputs
    from .diffview import recent_history, show_report, verdict_line
    from .output import out, show_disagreements, wrote

    check_outputs(output_file)
    proj = project(config)
    saved, report = diff_saved(proj, run, strict=strict,
                               allow_missing=allow_missing, alpha=alpha)
    if quiet:
        out.print(verdict_line(report))
    else:
        show_report(report, verbose=verbose)
    data = ReportData(saved.run_id, saved.started, saved.finished, saved.records,
                      saved.summary(), report)
    data.history = recent_history(proj, report, output_file)
    data.labels = labels_of(proj, lambda: saved.records)
    if not quiet:
        show_disagreements(data.labels)
    write_outputs(output_file, data, wrote)
    raise typer.Exit(int(report.exit_code))

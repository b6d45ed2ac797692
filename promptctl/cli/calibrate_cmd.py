"""`promptctl calibrate [SUITE...]`: the judges' verdicts against the human labels of
reviews/ (gate/calibrate.py): agreement, Cohen's kappa with its interval, the
confusion matrix and the disagreeing outputs with the judge's reasons. Exit 0, or 1
with --gate when a judge's or an assertion's kappa is significantly below its
`min_kappa`; 2 for bad input (no saved run, a bad reviews file)."""

# no `from __future__ import annotations`: see cli/main.py

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ExitCode
from . import common
from .check_cmd import AlphaOpt
from .funnel import funnel

CalibrateOutputOpt = Annotated[list[Path] | None, typer.Option(
    "--output", "-o", help="Write the result; the format comes from the extension: "
    ".json, .md or .html. Repeatable.", show_default=False)]


@funnel
def calibrate(
    suites: common.SuitesArg = None,
    run: Annotated[str | None, typer.Option(
        "--run", help="The saved run whose judges' verdicts are compared ('latest', the "
        "default, for the last run).", show_default=False)] = None,
    judge: Annotated[list[str] | None, typer.Option(
        "--judge", help="Judge the labelled outputs again with this model alias instead "
        "of using the run's verdicts (only the judge is called). Twice: compare two "
        "judges on the same labels, with a paired test.", show_default=False)] = None,
    gate: Annotated[bool, typer.Option(
        "--gate", help="Exit 1 when a kappa is significantly below its min_kappa (a "
        "judge model's or an assertion's).")] = False,
    alpha: AlphaOpt = 0.05,
    output_file: CalibrateOutputOpt = None,
    quiet: common.QuietOpt = False,
    config: common.ConfigOpt = None,
) -> None:
    """How well each judge agrees with the human labels in reviews/ on the outputs of a
    saved run: kappa with a confidence interval, the confusion matrix, and every output
    where judge and reviewer disagree, with the judge's reason."""
    # deferred: keeps --help fast
    from ..gate.calibrate import calibrate as run_calibration
    from ..reports import check_outputs
    from ..reports.calibrate_report import FORMATS, document, write_document
    from ..run.meta import load_run
    from . import calibrateview, output

    check_outputs(output_file, FORMATS)
    project = common.project(config)
    saved = load_run(project, run)
    chosen, records = common.of_saved_run(project, saved, suites)
    result = run_calibration(project, chosen, records, run_id=saved.run_id,
                             judges=judge or [], alpha=alpha)
    doc = document(result)
    if not saved.finished:  # killed, or still running: its verdicts so far
        output.err.print(f"note: run {saved.run_id} has not finished: only the outputs "
                         "it has recorded so far are compared", markup=False)
    calibrateview.show(doc, quiet=quiet)
    for path in output_file or []:
        write_document(path, doc)
        output.wrote(path)
    if gate:
        failed = doc["gate"]["failed"]
        output.out.print("gate: failed (a kappa significantly below its min_kappa)"
                         if failed else "gate: passed",
                         style="bold red" if failed else "bold green", markup=False)
        if failed:
            raise typer.Exit(int(ExitCode.FAILED))

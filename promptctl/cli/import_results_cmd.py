"""`promptctl import promptfoo-results RESULTS.json [--config CONFIG] [--project DIR]`:
a promptfoo eval's results as a run of the imported project (integrations/promptfoo/
results.py), so `baseline update --run latest` and `diff` take them. Prints the run it
wrote, then one line per result it could not match. Exit 0 when every result matched,
1 when some did not (or none did: then no run is written), 2 when the file is not
promptfoo results or the config or project cannot be read."""

# no `from __future__ import annotations`: see cli/main.py

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ExitCode
from .funnel import funnel


@funnel
def import_promptfoo_results(
    results: Annotated[Path, typer.Argument(
        help="The JSON of `promptfoo eval -o results.json` or `promptfoo export`.",
        show_default=False)],
    config: Annotated[Path | None, typer.Option(
        "--config", help="The promptfoo config the eval ran (default: the one the "
        "results embed).", show_default=False)] = None,
    project_dir: Annotated[Path, typer.Option(
        "--project", "-p", help="The promptctl project `import promptfoo` wrote.")
    ] = Path("."),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary line.")
                     ] = False,
) -> None:
    """Write a run of the project from promptfoo's results: its outputs, tokens,
    latency and cost per case, prompt and model, scored by the suite's own checks.
    Then `promptctl baseline update --run latest` makes them the first baseline.

    Lists every result it could not match to a case of the imported project, one line
    each. Exit 0 when every result matched, 1 when some did not, 2 when the file is not
    promptfoo results."""
    # deferred: keeps --help fast
    from ..boundary import display_path
    from ..integrations.promptfoo.results import import_results
    from ..load.project import load_project
    from . import common
    from .output import out

    project = load_project(root=project_dir)
    common.check_state(project)
    outcome = import_results(project, results, config)
    if not quiet:
        for line in outcome.warnings:
            print(f"warning: {line}", file=sys.stderr)
    for miss in outcome.unmatched:
        print(f"unmatched: {miss}", file=sys.stderr)
    run = outcome.result
    if run is not None:
        s = run.summary
        folder = display_path(project.state_dir / "runs" / str(run.run_id))
        out.print(f"imported {outcome.matched} of {outcome.rows} results into {folder}: "
                  f"{len(s.cells)} cases: {s.passed} passed, {s.failed} failed, "
                  f"{s.errors} errors (scored by {outcome.suite.file})", markup=False,
                  highlight=False, soft_wrap=True)
        if not quiet:
            out.print("next: promptctl baseline update --run latest", markup=False,
                      highlight=False)
    if outcome.unmatched:
        n = len(outcome.unmatched)
        print(f"import: {n} of {outcome.rows} result{'s' * (outcome.rows != 1)} unmatched "
              "(listed above)" + ("; no run written" if run is None else ""),
              file=sys.stderr)
        raise typer.Exit(int(ExitCode.FAILED))
    if run is None:
        print("import: the results file holds no results; no run written", file=sys.stderr)
        raise typer.Exit(int(ExitCode.FAILED))

"""`promptctl init [DIR]`: scaffold a working project."""

# no `from __future__ import annotations`: see cli/main.py

from pathlib import Path
from typing import Annotated

import typer

from .funnel import funnel


@funnel
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")
                         ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")
                     ] = False,
    no_baseline: Annotated[bool, typer.Option(
        "--no-baseline", help="Do not run the suite to record its baseline.")] = False,
) -> None:
    """Create promptctl.yaml, a prompt, a suite, its baseline, a pre-commit config, a
    GitHub workflow and a .gitignore entry. `promptctl init && promptctl check` passes
    at once on the embedded model. Refuses to overwrite files unless --force."""
    # deferred: keeps --help fast
    from ..boundary import display_path
    from ..gate.check import update_baselines
    from ..load.project import load_project
    from ..load.scaffold import scaffold
    from ..load.suites import load_suite
    from ..run.options import RunOptions
    from ..run.runner import run_suites
    from .output import out

    made = scaffold(directory, force=force)
    for path in made.written:
        out.print(f"wrote {display_path(path)}", markup=False)
    if no_baseline:
        out.print("next: promptctl baseline update, then promptctl check")
        return
    project = load_project(config=directory / "promptctl.yaml")
    suites = [load_suite(project, p) for p in project.suite_paths()]
    result = run_suites(project, suites, RunOptions())
    for w in update_baselines(project, suites, result.records, partial=False):
        out.print(f"wrote {display_path(w.path)}: {w.cases} cases, {w.passed} passing",
                  markup=False)
    out.print("next: promptctl check (and git add the files)")

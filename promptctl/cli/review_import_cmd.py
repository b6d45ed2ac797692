"""`promptctl review import FILE [--force]`: the labels the review page saved
(labels-<run>.json) into reviews/<suite>.yaml (gate/review_import.py). Prints, per
suite, how many labels were added or changed and every conflict (an output already
labelled with a different verdict, score or note). Exit 0; 1 when conflicts were left
out (the other labels are written; --force takes the file's labels instead); 2 for a
bad file, naming the entry and the field."""

# no `from __future__ import annotations`: see cli/main.py

from pathlib import Path

import typer

from ..errors import ExitCode
from . import common
from .funnel import funnel


@funnel
def import_(
    file: Path = typer.Argument(..., help="The labels-<run>.json the review page saved.",
                                show_default=False),
    force: bool = typer.Option(
        False, "--force", help="Where an output already has a different label, the "
        "file's label replaces it (without --force the conflict is listed, left out, "
        "and the command exits 1)."),
    config: common.ConfigOpt = None,
) -> None:
    """Import the labels saved from `promptctl review --html` into reviews/."""
    from ..gate.review_import import import_labels  # deferred: the file's shapes
    from . import output

    project = common.project(config)
    result = import_labels(project, file, force=force)
    for one in result.suites:
        if one.wrote is not None:
            output.wrote(one.wrote)
        words = f"{one.suite}: {one.changed} label{'s' if one.changed != 1 else ''} " \
            f"added or changed"
        if one.conflicts:
            words += f", {len(one.conflicts)} conflicting left out"
        output.out.print(words, markup=False)
        for c in one.conflicts:
            old, new = c.existing, c.incoming
            output.out.print(f"  conflict: case {old.case} prompt {old.prompt} model "
                             f"{old.model}: {one.file} has {old.verdict} (by {old.by} at "
                             f"{old.at}), the file has {new.verdict} (by {new.by} at "
                             f"{new.at})", markup=False)
    if not result.suites:
        output.out.print(f"no labels in {file}", markup=False)
    elif result.changed == 0 and not result.conflicts:
        output.out.print("nothing changed: every label is already in reviews/",
                         markup=False)
    if result.conflicts:
        output.out.print(f"{len(result.conflicts)} conflicts left out: keep reviews/ as "
                         "it is, or import again with --force to take the file's labels",
                         markup=False)
        raise typer.Exit(int(ExitCode.FAILED))

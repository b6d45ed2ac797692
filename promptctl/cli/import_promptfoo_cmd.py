"""`promptctl import promptfoo CONFIG [--out DIR] [--force]`: a promptfoo config to a
promptctl project (integrations/promptfoo). Prints what it wrote, then one line per
note (source file:line; approximated, left out, or info). Exit 0 when everything
mapped, 1 when something was approximated or left out, 2 when the config cannot be
read or a file would be overwritten without --force."""

# no `from __future__ import annotations`: see cli/main.py

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ExitCode
from .funnel import funnel


@funnel
def import_promptfoo(
    config: Annotated[Path, typer.Argument(
        help="The promptfoo config (promptfooconfig.yaml, or any file given to "
             "`promptfoo eval -c`).", show_default=False)],
    out_dir: Annotated[Path, typer.Option(
        "--out", "-o", help="Where to write the promptctl project.")] = Path("."),
    force: Annotated[bool, typer.Option(
        "--force", help="Overwrite files that already exist.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the notes.")] = False,
) -> None:
    """Write promptctl.yaml, prompts/, suites/ and data files from a promptfoo config.

    Lists every promptfoo item it could only approximate or had to leave out, one line
    each with its file:line. Exit 0 when everything mapped, 1 when something was
    approximated or left out, 2 when the config cannot be read."""
    # deferred: keeps --help fast
    from ..boundary import display_path
    from ..integrations.promptfoo.config import convert, write
    from .output import out

    imported = convert(config)
    written = write(imported, out_dir, force=force)
    if not quiet:
        for path in written:
            out.print(f"wrote {display_path(path)}", markup=False)
        out.print(f"imported {len(imported.tests)} tests, {len(imported.prompts)} prompts, "
                  f"{len(imported.providers)} providers", markup=False)
    for note in imported.notes:
        print(f"note: {note}", file=sys.stderr)
    inexact = sum(note.inexact for note in imported.notes)
    if inexact:
        print(f"import: {inexact} item{'s' if inexact != 1 else ''}"
              " approximated or left out (listed above)", file=sys.stderr)
        raise typer.Exit(int(ExitCode.FAILED))

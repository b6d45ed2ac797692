"""`promptctl lint`: static checks, no model loaded; fast enough for pre-commit."""

# no `from __future__ import annotations`: see cli/main.py

import sys
from typing import Annotated

import typer

from ..errors import ExitCode
from . import common
from .funnel import funnel


@funnel
def lint(
    paths: Annotated[list[str] | None, typer.Argument(
        help="Files or directories to check (default: prompts/ and suites/).",
        show_default=False)] = None,
    quiet: common.QuietOpt = False,
    config: common.ConfigOpt = None,
) -> None:
    """Check schema, template syntax, undefined and unused variables, and references.

    Exit 0 when clean, 1 when there are warnings, 2 when there are errors that `run`
    would refuse."""
    from ..load.lint import lint_project, lint_summary  # deferred: keeps --help fast

    project = common.project(config)
    findings = lint_project(project, paths or [])
    for finding in findings:
        print(finding, file=sys.stderr)
    counts = lint_summary(findings)
    if not quiet or findings:
        files = len(project.prompt_paths()) + (len(project.suite_paths())
                                               if project.suites_dir.is_dir() else 0)
        status = "clean" if not findings else \
            (f"{counts['errors']} error{'s' if counts['errors'] != 1 else ''}, "
             f"{counts['warnings']} warning{'s' if counts['warnings'] != 1 else ''}")
        print(f"lint: {files} files checked, {status}", file=sys.stderr)
    if counts["errors"]:
        raise typer.Exit(int(ExitCode.USAGE))
    raise typer.Exit(int(ExitCode.FAILED if counts["warnings"] else ExitCode.OK))

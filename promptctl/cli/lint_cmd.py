"""`promptctl lint`: static checks, no model loaded; fast enough for pre-commit.

A lint without errors is cached in the user's cache directory with every file it read
(load/lintcache.py): the same command on an unchanged tree answers from there, before
typer starts (cli/lint_fast.py) or here; --no-cache neither reads nor writes it."""

# no `from __future__ import annotations`: see cli/main.py

from typing import Annotated

import typer

from .. import __version__
from . import common
from .funnel import funnel
from .lint_fast import report


@funnel
def lint(
    paths: Annotated[list[str] | None, typer.Argument(
        help="Files or directories to check (default: prompts/ and suites/).",
        show_default=False)] = None,
    quiet: common.QuietOpt = False,
    config: common.ConfigOpt = None,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Lint even when the same lint of the same files is cached "
        "(and cache nothing).")] = False,
) -> None:
    """Check schema, template syntax, undefined and unused variables, and references.

    Exit 0 when clean, 1 when there are warnings, 2 when there are errors that `run`
    would refuse."""
    from ..load import lintcache  # stdlib only

    asked = lintcache.question(__version__, paths or [],
                               str(config) if config is not None else None)
    cached = None if no_cache else lintcache.lookup(asked)
    if cached is not None:
        raise typer.Exit(report(cached, quiet))
    from ..load.lint import lint_project, lint_summary  # deferred: keeps --help fast

    with lintcache.Recorder() as recorder:
        project = common.project(config)
        findings = lint_project(project, paths or [])
        files = len(project.prompt_paths()) + (len(project.suite_paths())
                                               if project.suites_dir.is_dir() else 0)
    result = {"findings": [str(f) for f in findings], "files": files,
              **lint_summary(findings)}
    if not no_cache and not result["errors"]:
        lintcache.store(asked, recorder, result)
    raise typer.Exit(report(result, quiet))

"""`promptctl lint` answered from its cache (load/lintcache.py) before typer starts.

A pre-commit hook runs `promptctl lint` on every commit, and most commits leave its
inputs unchanged: `answer_from_cache` reads the command line itself and, when the cache
holds an entry whose inputs are all unchanged, prints what that lint printed and gives
its exit code, with the standard library only (no typer, whose parameter coercion
imports pydantic; no loader). It handles only the command lines it fully understands
(paths, -q/--quiet, -c/--config PATH); anything else (--help, --no-cache, an unknown
option) goes to typer as usual. The lint command prints through `report` too, so a hit
and the lint it repeats print the same.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ExitCode


def parse(argv: Sequence[str]) -> tuple[list[str], bool, str | None] | None:
    """(paths, quiet, config as typer gives it) from lint's arguments; None for a
    command line this does not read (typer then parses it, and says what is wrong)."""
    paths: list[str] = []
    quiet = False
    config: str | None = None
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            paths.extend(args)
            break
        if arg in ("-q", "--quiet"):
            quiet = True
        elif arg in ("-c", "--config") and args and args[0] and not args[0].startswith("-"):
            config = str(Path(args.pop(0)))
        elif arg.startswith("--config=") and len(arg) > len("--config="):
            config = str(Path(arg[len("--config="):]))
        elif arg.startswith("-") or not arg:
            return None
        else:
            paths.append(arg)
    return paths, quiet, config


def report(result: dict[str, Any], quiet: bool) -> int:
    """Prints a lint's result (load/lintcache.py's shape) and returns its exit code."""
    findings: list[str] = result["findings"]
    errors, warnings = result["errors"], result["warnings"]
    for finding in findings:
        print(finding, file=sys.stderr)
    if not quiet or findings:
        status = "clean" if not findings else \
            (f"{errors} error{'s' if errors != 1 else ''}, "
             f"{warnings} warning{'s' if warnings != 1 else ''}")
        print(f"lint: {result['files']} files checked, {status}", file=sys.stderr)
    if errors:
        return int(ExitCode.USAGE)
    return int(ExitCode.FAILED if warnings else ExitCode.OK)


def answer_from_cache(argv: Sequence[str]) -> int | None:
    """The exit code of `promptctl lint ARGV` answered from the cache, after printing
    its findings; None when the cache cannot answer (nothing is printed then)."""
    parsed = parse(argv)
    if parsed is None:
        return None
    paths, quiet, config = parsed
    from ..load import lintcache  # stdlib only: keeps a hit free of typer and pydantic

    try:
        result = lintcache.lookup(lintcache.question(__version__, paths, config))
    except OSError:  # no working directory, say: lint runs, and says what is wrong
        return None
    if result is None:
        return None
    return report(result, quiet)

"""`promptctl models`: configured models and whether each is reachable."""

# no `from __future__ import annotations`: see cli/main.py

from typing import Annotated

import typer

from ..errors import ExitCode, PromptctlError, UserError
from . import common
from .funnel import funnel


@funnel
def models(
    check: Annotated[bool, typer.Option(
        "--check/--no-check", help="Load or contact each model to see that it answers.")
    ] = True,
    config: common.ConfigOpt = None,
) -> None:
    """List the configured models (and the built-in default) and check each one.

    Exit 0 when all answer, 3 when any is unreachable, 2 when any is misconfigured
    (a missing key, a missing model file)."""
    # deferred: keeps --help fast
    from rich.table import Table
    from rich.text import Text

    from .output import out

    project = common.project(config)
    names = list(project.config.models) or ["default"]
    if "default" not in names:
        names.append("default")
    table = Table(pad_edge=False)
    for col in ("alias", "provider", "model", "status"):
        table.add_column(col, overflow="fold")
    worst = ExitCode.OK
    for name in names:
        entry = project.model(name)
        status = Text("not checked")
        if check:
            try:
                status = Text.assemble(("ok", "green"), ": " + project.provider(name).check())
            except UserError as exc:
                status = Text.assemble(("misconfigured", "red"), f": {exc}")
                worst = max(worst, ExitCode.USAGE)
            except PromptctlError as exc:
                status = Text.assemble(("unreachable", "red"), f": {exc}")
                worst = max(worst, ExitCode.INFRA)
        table.add_row(Text(name), Text(entry.provider), Text(entry.model or ""), status)
    out.print(table)
    raise typer.Exit(int(worst))

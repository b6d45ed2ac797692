"""`promptctl render`: print a prompt's rendered messages."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ..errors import UserError
from ..rendering import render_messages
from . import common
from .funnel import funnel


@funnel
def render(
    prompt: Annotated[str, typer.Argument(help="COLLECTION.PROMPT (or a unique PROMPT).")],
    var: common.VarOpt = None,
    case: Annotated[str | None, typer.Option(
        "--case", help="Take vars from a suite case: SUITE:CASE.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the messages as JSON.")
                       ] = False,
    config: common.ConfigOpt = None,
) -> None:
    """Render a prompt with variables and print the messages a model would see."""
    project = common.project(config)
    ref = project.prompt(prompt)
    variables: dict = {}
    if case is not None:
        suite_name, sep, case_id = case.rpartition(":")
        if not sep or not suite_name or not case_id:
            raise UserError(f"bad --case '{case}'", hint="write --case SUITE:CASE")
        (path,) = project.suite_paths([suite_name])
        suite = project.load_suite(path)
        found = next((c for c in suite.cases if c.id == case_id), None)
        if found is None:
            from ..project import suggest

            raise UserError(f"no case '{case_id}' in suite {suite.file}",
                            hint=suggest(case_id, [c.id for c in suite.cases])
                            or "list the case ids in the suite file")
        variables.update(found.vars)
    variables.update(common.parse_vars(var))
    messages = render_messages(ref, variables)
    if as_json:
        print(json.dumps(messages, indent=2, ensure_ascii=False))
        return
    from rich.markup import escape

    from .output import out

    for msg in messages:
        out.print(f"[bold cyan]{msg['role']}[/bold cyan]")
        out.print(escape(msg["content"]))
        out.print()

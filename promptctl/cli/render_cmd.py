"""`promptctl render`: print a prompt's rendered messages."""

# no `from __future__ import annotations`: see cli/main.py

import difflib
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UserError, suggest
from . import common
from .funnel import funnel

if TYPE_CHECKING:
    from ..load.project import Project, PromptRef
    from ..load.suites import Case


@funnel
def render(
    prompt: Annotated[str, typer.Argument(help="COLLECTION.PROMPT (or a unique PROMPT).")],
    var: common.VarOpt = None,
    case: Annotated[str | None, typer.Option(
        "--case", help="Take vars from a suite case: SUITE:CASE.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the messages as JSON.")
                       ] = False,
    diff: Annotated[str | None, typer.Option(
        "--diff", metavar="REF", help="Show how the rendered messages changed since git "
        "REF (the prompt and its included templates as they were there), as a unified "
        "diff.", show_default=False)] = None,
    config: common.ConfigOpt = None,
) -> None:
    """Render a prompt with variables and print the messages a model would see."""
    # deferred: keeps --help fast
    import json

    from ..load import tools as tooling
    from ..load.rendering import render_messages

    project = common.project(config)
    ref = project.prompt(prompt)
    variables: dict = {}
    where: dict = {}  # the case's id and place, for error messages
    found = None
    if case is not None:
        suite_name, sep, case_id = case.rpartition(":")
        if not sep or not suite_name or not case_id:
            raise UserError(f"bad --case '{case}'", hint="write --case SUITE:CASE")
        (path,) = project.suite_paths([suite_name])
        from ..load.suites import load_suite  # deferred: only with --case; keeps render fast

        suite = load_suite(project, path)
        found = next((c for c in suite.cases if c.id == case_id), None)
        if found is None:
            raise UserError(f"no case '{case_id}' in suite {suite.file}",
                            hint=suggest(case_id, [c.id for c in suite.cases])
                            or "list the case ids in the suite file")
        variables.update(found.vars)
        where = {"file": found.file, "line": found.line, "case": found.id}
    variables.update(common.parse_vars(var))
    if diff is not None:
        from ..load.deps import prompt_at  # deferred: only with --diff; keeps render fast

        old_ref = prompt_at(project, ref, diff)  # a bad ref fails before any rendering
        _show_diff(ref, old_ref, variables, render_messages(ref, variables, **where), diff,
                   as_json=as_json)
        return
    messages = render_messages(ref, variables, **where)
    tools, later = _first_turn(project, ref, found, variables, messages)
    if as_json:
        if tools or later:  # the messages, what else the model is offered, what follows
            print(json.dumps({"messages": messages, "tools": tools,
                              "tool_choice": ref.spec.tool_choice and tooling.tool_choice(ref),
                              "later_turns": later}, indent=2, ensure_ascii=False))
        else:
            print(json.dumps(messages, indent=2, ensure_ascii=False))
        return
    from .output import out, write_raw  # deferred: keeps --help fast

    for msg in messages:
        out.print(msg["role"], style="bold cyan", markup=False)
        write_raw(msg["content"] + "\n\n")  # what the model sees, as it is
    if tools:
        out.print("tools", style="bold cyan", markup=False)
        write_raw(json.dumps(tools, indent=2, ensure_ascii=False) + "\n\n")
    if later:
        out.print(f"then {later} more turn{'s' if later != 1 else ''}: each depends on "
                  "the model's answers, so only a run shows them", style="dim", markup=False)


def _first_turn(project: "Project", ref: "PromptRef", case: "Case | None", variables: dict,
                messages: list) -> tuple[list, int]:
    """The prompt's rendered tools, and how many turns follow the first; a conversation
    whose prompt ends without a user message gets its first turn's appended here."""
    from ..load import tools as tooling  # deferred: keeps --help fast

    tools = tooling.render_tools(project, ref, variables) if ref.spec.tools else []
    turns = list(case.turns or ()) if case is not None else []
    if case is not None and turns and not tooling.count_turns(messages, ()):
        messages.append({"role": "user", "content": tooling.render_turn(
            project, ref, turns.pop(0), variables, 1, file=case.file, line=case.line,
            case=case.id)})
    return tools, len(turns)


def _as_lines(messages: list[dict[str, str]]) -> list[str]:
    lines: list[str] = []
    for msg in messages:
        lines.append(f"[{msg['role']}]")
        lines.extend(msg["content"].splitlines() or [""])
    return lines


def _show_diff(ref: "PromptRef", old_ref: "PromptRef", variables: dict,
               messages: list[dict[str, str]], git_ref: str, *, as_json: bool) -> None:
    """The prompt rendered as it was at git_ref and as it is now, with the same vars."""
    # deferred: keeps --help fast
    import json

    from rich.text import Text

    from ..load.rendering import render_messages
    from .output import out, write_raw

    try:
        old = render_messages(old_ref, variables)
    except UserError as exc:
        exc.message = f"at {git_ref}: {exc.message}"
        raise
    lines = list(difflib.unified_diff(_as_lines(old), _as_lines(messages),
                                      fromfile=f"{ref.id} @ {git_ref}",
                                      tofile=f"{ref.id} (working tree)", lineterm=""))
    if as_json:
        print(json.dumps({"prompt": ref.id, "ref": git_ref, "changed": bool(lines),
                          "before": old, "after": messages, "diff": lines},
                         indent=2, ensure_ascii=False))
        return
    if not lines:
        out.print(f"no change: {ref.id} renders the same as at {git_ref}", markup=False)
        return
    if not out.is_terminal:  # a pipe or a file: the diff's bytes, as `git diff` writes
        write_raw("".join(line + "\n" for line in lines))
        return
    styles = {"+": "green", "-": "red", "@": "cyan"}
    for line in lines:
        style = "bold" if line.startswith(("+++", "---")) else styles.get(line[:1])
        out.print(Text(line, style=style or ""), soft_wrap=True)

"""A prompt's tools and a case's conversation, rendered: the `tools:` (their strings
are templates of the case's vars), the `turns:` user messages, and the canned
`tool_results` (templates of the case's vars and the call's `args`).

Everything here renders in the same sandbox and within the same bounds as a prompt's
messages (limits.render_timeout, limits.max_prompt_chars): an error is a UserError at
the case's file:line. `check_case` refuses, before any model call, what a run could
only trip over half-way: a tool result for a tool the prompt does not declare, an
assertion's `turn: N` past the case's last turn.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2

from .. import render_bounds
from ..errors import UserError, quote
from . import templates
from .project import Project, PromptRef
from .rendering import prompt_vars

_COMPILED: dict[tuple[int, str], jinja2.Template] = {}  # (id(env), text): its template
_COMPILED_LIMIT = 4096


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def _render(env: Any, text: str, values: dict[str, Any], *, what: str,
            file: str | None, line: int | None) -> str:
    if not _is_template(text):
        return text
    key = (id(env), text)
    tpl = _COMPILED.get(key)
    if tpl is None:
        tpl = templates.compile_template(env, text, file=file or "", line=line, what=what)
        if len(_COMPILED) >= _COMPILED_LIMIT:
            _COMPILED.clear()
        _COMPILED[key] = tpl
    try:
        with render_bounds.scope(
                getattr(env, "render_timeout", render_bounds.DEFAULTS.render_timeout),
                getattr(env, "max_prompt_chars", render_bounds.DEFAULTS.max_prompt_chars)):
            return templates.render(tpl, values, what=what, file=file, line=line, src=text)
    except render_bounds.RenderLimit as exc:
        raise UserError(f"{what}: {exc.message}", file=file, line=line,
                        hint=exc.hint) from None


def _deep(env: Any, value: Any, values: dict[str, Any], **where: Any) -> Any:
    """Every string inside `value` rendered; mappings' keys are left as written."""
    if isinstance(value, str):
        return _render(env, value, values, **where)
    if isinstance(value, list):
        return [_deep(env, v, values, **where) for v in value]
    if isinstance(value, dict):
        return {k: _deep(env, v, values, **where) for k, v in value.items()}
    return value


def declared(ref: PromptRef) -> list[str]:
    """The names of the prompt's tools, in the order written."""
    return [t.function.name for t in ref.spec.tools]


def render_tools(project: Project, ref: PromptRef, case_vars: dict[str, Any], *,
                 file: str | None = None, line: int | None = None,
                 case: str | None = None) -> list[dict[str, Any]]:
    """The prompt's tools as the API takes them, rendered with the case's vars."""
    if not ref.spec.tools:
        return []
    if ref._static_tools is not None:  # shared by every call: read, never changed
        return list(ref._static_tools)
    data = [tool.model_dump(exclude_none=True) for tool in ref.spec.tools]
    if not _has_template(data):
        ref._static_tools = data
        return list(data)
    values = prompt_vars(ref, case_vars)
    what = f"prompt '{ref.id}' tools" + (f" (case '{case}')" if case else "")
    return [_deep(project.env, tool, values, what=what, file=ref.file, line=ref.line)
            for tool in data]


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return _is_template(value)
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    return False


def tool_choice(ref: PromptRef) -> Any:
    """The prompt's tool_choice as the API takes it; None when not given."""
    choice = ref.spec.tool_choice
    if choice is None or isinstance(choice, str):
        return choice
    return choice.model_dump()


def render_turn(project: Project, ref: PromptRef, text: str, case_vars: dict[str, Any],
                n: int, *, file: str | None, line: int | None, case: str) -> str:
    """Turn n's user message (1-based, counting the prompt's own as the first)."""
    return _render(project.env, text, prompt_vars(ref, case_vars),
                   what=f"case '{case}' turn {n}", file=file, line=line)


def render_tool_result(project: Project, ref: PromptRef, value: Any,
                       case_vars: dict[str, Any], args: Any, *, name: str,
                       file: str | None, line: int | None, case: str) -> str:
    """A canned tool result as the tool message's content: a string template of the
    case's vars and the call's `args` (its arguments, parsed), or any other value
    with its strings rendered so, sent as JSON."""
    values = {**prompt_vars(ref, case_vars), "args": args if args is not None else {}}
    what = f"case '{case}' tool result {quote(name)}"
    rendered = _deep(project.env, value, values, what=what, file=file, line=line)
    if isinstance(rendered, str):
        return rendered
    return json.dumps(rendered, ensure_ascii=False, sort_keys=True)


def check_tool_result(ref: PromptRef, name: str, *, file: str | None,
                      line: int | None, case: str | None = None) -> None:
    """A canned result must answer a tool the prompt declares: exit 2 at its line."""
    names = declared(ref)
    if name in names:
        return
    have = f"it declares {', '.join(names)}" if names else "it declares no tools"
    raise UserError(f"{f'case {quote(case)}: ' if case else ''}tool_results names tool "
                    f"{quote(name)}, which prompt '{ref.id}' does not declare ({have})",
                    file=file, line=line,
                    hint="name one of the prompt's tools, or add it to the prompt's "
                         "`tools:`")


def count_turns(messages: list[dict[str, Any]], turns: tuple[str, ...] | None) -> int:
    """How many times the model answers in a case: once per `turns:` entry, and once
    more for the prompt's own messages when they end with a user message."""
    opening = 1 if messages and messages[-1].get("role") == "user" else 0
    return opening + len(turns or ())


def check_case(ref: PromptRef, case: Any, messages: list[dict[str, Any]]) -> None:
    """Refuse, before any call, a case its prompt cannot play (see the module doc)."""
    for name in case.tool_results:
        check_tool_result(ref, name, file=case.file, line=case.line,
                          case=case.id)
    # one call when the case is no conversation, whatever the prompt ends with
    total = 1 if case.turns is None else count_turns(messages, case.turns)
    for spec, at in zip(case.asserts, case.assert_lines, strict=False):
        turn = spec.turn
        if isinstance(turn, int) and not 1 <= turn <= total:
            raise UserError(f"case '{case.id}': assertion {spec.type} checks turn {turn}, "
                            f"but the case has {total} turn{'s' if total != 1 else ''} "
                            f"on prompt '{ref.id}'", file=case.file,
                            line=at or case.line,
                            hint=f"use a turn from 1 to {total}, `each` or `last`")


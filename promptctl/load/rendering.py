"""Render a prompt with variables into chat messages.

All of one prompt's messages render within one deadline and one character budget
(limits.render_timeout, limits.max_prompt_chars); past either, a UserError names the
template's own file:line and the case.
"""

from __future__ import annotations

from typing import Any

from .. import render_bounds
from ..errors import UserError
from . import templates
from .project import PromptRef, iter_prompt_texts


def prompt_vars(ref: PromptRef, case_vars: dict[str, Any]) -> dict[str, Any]:
    """Prompt defaults < case (which already holds suite defaults and data rows)."""
    return {**ref.spec.vars, **case_vars} if ref.spec.vars else case_vars


def render_messages(ref: PromptRef, variables: dict[str, Any], *,
                    file: str | None = None, line: int | None = None,
                    case: str | None = None) -> list[dict[str, str]]:
    """System messages first, then the few-shot examples, then the rest.

    An error names the template's own file and line (the prompt collection, or the
    included file), and the case being rendered: `case` is its id, `file`/`line` where
    it is written."""
    if not ref._compiled:
        return _render_messages(ref, variables, file, line, case)
    env = next(iter(ref._compiled.values())).environment
    try:
        with render_bounds.scope(
                getattr(env, "render_timeout", render_bounds.DEFAULTS.render_timeout),
                getattr(env, "max_prompt_chars", render_bounds.DEFAULTS.max_prompt_chars)):
            return _render_messages(ref, variables, file, line, case)
    except render_bounds.RenderLimit as exc:
        raise _limit_error(ref, exc.template_key, exc, file, line, case) from None


def _limit_error(ref: PromptRef, key: str, exc: render_bounds.RenderLimit,
                 file: str | None, line: int | None, case: str | None) -> UserError:
    """A bound passed while rendering: at the template's own line, naming the case."""
    where = ref.line
    for what, _, loc in iter_prompt_texts(ref):
        if what == key:
            where = ref.source.line(loc) or where
    return UserError(f"prompt '{ref.id}' {key}{_case_text(file, line, case)}: "
                     f"{exc.message}", file=ref.file, line=where, hint=exc.hint)


def _case_text(file: str | None, line: int | None, case: str | None) -> str:
    """' (case 'ID' of FILE:LINE)': which case was being rendered, if any."""
    if file is None:
        return ""
    at = f"{file}:{line}" if line else file
    return f" (case '{case}' of {at})" if case is not None else f" (case at {at})"


def _render_messages(ref: PromptRef, variables: dict[str, Any], file: str | None,
                     line: int | None, case: str | None) -> list[dict[str, str]]:
    spec = ref.spec
    values = prompt_vars(ref, variables)
    what = f"prompt '{ref.id}'{_case_text(file, line, case)}"
    compiled = ref._compiled
    texts = {key: (src, loc) for key, src, loc in iter_prompt_texts(ref)}

    def text(key: str) -> str:
        src, loc = texts[key]
        try:
            return templates.render(compiled[key], values, what=what, file=ref.file,
                                    line=ref.source.line(loc), src=src)
        except render_bounds.RenderLimit as exc:
            exc.template_key = key
            raise

    examples: list[dict[str, str]] = []
    for i in range(len(spec.examples)):
        examples.append({"role": "user", "content": text(f"examples[{i}].user")})
        examples.append({"role": "assistant", "content": text(f"examples[{i}].assistant")})

    if spec.template is not None:
        return [*examples, {"role": "user", "content": text("template")}]

    out: list[dict[str, str]] = []
    body = spec.messages or []
    n_system = 0
    while n_system < len(body) and body[n_system].role == "system":
        n_system += 1
    for i, msg in enumerate(body):
        if i == n_system:
            out.extend(examples)
        out.append({"role": msg.role, "content": text(f"messages[{i}]")})
    if n_system == len(body):
        out.extend(examples)
    return out

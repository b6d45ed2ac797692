"""Render a prompt with variables into chat messages."""

from __future__ import annotations

from typing import Any

from . import templates
from .project import PromptRef


def prompt_vars(ref: PromptRef, case_vars: dict[str, Any]) -> dict[str, Any]:
    """Prompt defaults < case (which already holds suite defaults and data rows)."""
    return {**ref.spec.vars, **case_vars} if ref.spec.vars else case_vars


def render_messages(ref: PromptRef, variables: dict[str, Any], *,
                    file: str | None = None, line: int | None = None) -> list[dict[str, str]]:
    """System messages first, then the few-shot examples, then the rest.

    `file`/`line` point at the case being rendered, so an undefined variable names the
    case that lacks it."""
    spec = ref.spec
    values = prompt_vars(ref, variables)
    where_file = file or ref.file
    where_line = line or ref.line
    compiled = ref._compiled

    def text(key: str) -> str:
        return templates.render(compiled[key], values, what=f"prompt '{ref.id}'",
                                file=where_file, line=where_line)

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

"""Render a prompt with variables into chat messages."""

from __future__ import annotations

from typing import Any

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
    spec = ref.spec
    values = prompt_vars(ref, variables)
    what = f"prompt '{ref.id}'"
    if file is not None:
        at = f"{file}:{line}" if line else file
        what += f" (case '{case}' of {at})" if case is not None else f" (case at {at})"
    compiled = ref._compiled
    texts = {key: (src, loc) for key, src, loc in iter_prompt_texts(ref)}

    def text(key: str) -> str:
        src, loc = texts[key]
        return templates.render(compiled[key], values, what=what, file=ref.file,
                                line=ref.source.line(loc), src=src)

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

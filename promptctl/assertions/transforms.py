"""`transform`: a Jinja expression over the output (and the case's vars), compiled once
in the immutable sandbox (it cannot change the case's vars) with undefined variables
as errors, bounded in size as prompt templates are (render_bounds.py). jinja2 is
imported on first use; plain filter chains (`output | trim | lower`) skip Jinja
altogether.

Besides the case's vars, a transform reads CONTEXT_NAMES: `output` (the answer's
text), `transcript` (the whole conversation: ctx.transcript, chat message dicts) and
`tool_calls` (the answer's calls as [{name, arguments}], arguments None when they were
not JSON). These shadow a case var of the same name."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from typing import Any

from ..errors import quote
from .base import AssertionContext, AssertionSpecError, to_text

CONTEXT_NAMES = frozenset({"output", "transcript", "tool_calls"})

_ENV: Any = None
_ENV_LOCK = threading.Lock()


def _env() -> Any:
    global _ENV
    if _ENV is None:
        with _ENV_LOCK:
            if _ENV is None:
                # deferred: jinja2 loads with the first transform (module docstring)
                import jinja2
                from jinja2.sandbox import ImmutableSandboxedEnvironment

                from ..render_bounds import BoundedSandbox

                class Bounded(BoundedSandbox, ImmutableSandboxedEnvironment):
                    pass

                env = Bounded(undefined=jinja2.StrictUndefined, autoescape=False)
                env.filters["json"] = lambda v, indent=None: json.dumps(
                    v, indent=indent, ensure_ascii=False, sort_keys=indent is not None)
                env.filters["from_json"] = json.loads
                _ENV = env
    return _ENV


def compile_transform(src: str) -> Callable[[str, AssertionContext], str]:
    import jinja2  # deferred, as in _env

    expr_src = src.strip()
    if expr_src.startswith("{{") and expr_src.endswith("}}"):
        expr_src = expr_src[2:-2].strip()
    if not expr_src:
        raise AssertionSpecError("'transform' is empty", key="transform",
                                 hint="write a Jinja expression over 'output', "
                                      "e.g. output | trim | lower")
    fast = _fast_transform(expr_src)
    if fast is not None:
        return fast
    try:
        expr = _env().compile_expression(expr_src, undefined_to_none=False)
    except jinja2.TemplateSyntaxError as exc:
        raise AssertionSpecError(f"invalid transform {quote(src)}: {exc.message}", key="transform",
                                 hint="write a Jinja expression over 'output', "
                                      "e.g. output | trim | lower") from None

    def transform(output: str, ctx: AssertionContext) -> str:
        variables = dict(ctx.vars)
        variables["output"] = output
        variables["transcript"] = ctx.transcript
        variables["tool_calls"] = [_call_dict(c) for c in ctx.tool_calls]
        return to_text(expr(variables))

    return transform


def _call_dict(call: Any) -> dict[str, Any]:
    if isinstance(call, dict):
        return {"name": call.get("name"), "arguments": call.get("arguments")}
    return {"name": call.name, "arguments": call.arguments}


_FAST_FILTERS: dict[str, Callable[[str], str]] = {
    "trim": str.strip, "lower": str.lower, "upper": str.upper,
    "capitalize": str.capitalize,
}
_FILTER_CHAIN = re.compile(r"output(\s*\|\s*[a-z]+)*")


def _fast_transform(src: str) -> Callable[[str, AssertionContext], str] | None:
    """`output | trim | lower` and the like as plain str methods (same results as
    Jinja's filters on a string, a tenth of the cost)."""
    if not _FILTER_CHAIN.fullmatch(src):
        return None
    steps = [part.strip() for part in src.split("|")[1:]]
    if not all(step in _FAST_FILTERS for step in steps):
        return None
    funcs = [_FAST_FILTERS[step] for step in steps]

    def transform(output: str, ctx: AssertionContext) -> str:
        for func in funcs:
            output = func(output)
        return output

    return transform

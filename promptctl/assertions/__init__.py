"""Assertions: a registry of name -> check.

Public surface used by the rest of promptctl:

- `validate_spec(spec)` raises `AssertionSpecError` when an assertion as written is
  wrong (unknown type, unknown option, bad value, bad regex, bad JSON schema...).
- `evaluate(spec, output, ctx)` returns an `AssertionResult`; it never raises for a
  failing check: a failing assertion is a result with a reason in plain words.
- `register(name, options=...)` adds a type (plugins can call it too).
- `runs_inline(specs)`: may these checks run on the async engine's event loop?
- `shares_inputs(specs)`: does any of them run a plugin's code, which gets copies?
"""

from .registry import (
    AssertionContext,
    AssertionSpecError,
    evaluate,
    names,
    register,
    runs_inline,
    shares_inputs,
    validate_spec,
)

__all__ = [
    "AssertionContext",
    "AssertionSpecError",
    "evaluate",
    "names",
    "register",
    "runs_inline",
    "shares_inputs",
    "validate_spec",
]

"""Regular expressions written by users, matched in bounded time.

A pattern in a suite (the `regex` assertion, a JSON schema's `pattern` and
`patternProperties`) is the PR author's, and the text it runs on is the model's: `(a+)+$`
on `aaaa...a!` backtracks for ever under Python's `re`. So patterns keep `re`'s syntax
(`compile` checks them with `re` first: what `re` refuses stays refused) and are matched
by the `regex` package (its default V0 mode has `re`'s semantics), whose matching takes a
timeout and releases the GIL while it runs, so the rest of the run goes on. Past the
limit a match raises `TimeoutError`; the check fails with `timed_out(seconds)`.

`regex` and jsonschema are imported on first use.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import time
import types
import warnings
from collections.abc import Iterator
from typing import Any

from .base import fmt_num


def timed_out(seconds: float) -> str:
    """The reason of a check stopped by its time limit."""
    return f"timed out after {fmt_num(seconds)} s"


def compile_pattern(pattern: str) -> Any:
    """A pattern in Python `re` syntax, compiled by the `regex` package. Raises
    `re.error` for whatever `re` refuses."""
    import regex  # matching with a timeout: see the module docstring

    with warnings.catch_warnings():  # "possible nested set" and the like: re's too
        warnings.simplefilter("ignore", FutureWarning)
        re.compile(pattern)
        return regex.compile(pattern, flags=regex.VERSION0)


def search(compiled: Any, text: str, timeout: float | None) -> Any:
    """`compiled.search(text)` that raises TimeoutError past `timeout` seconds."""
    return compiled.search(text, timeout=timeout, concurrent=True)


# ------------------------------------------------------------------ in JSON schemas

# the time a JSON-schema validation may still take (a monotonic deadline), per thread
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "promptctl_schema_deadline", default=None)


class _BoundedRe:
    """Stands in for the `re` module inside jsonschema's keyword functions: `search`
    runs under the current deadline; everything else is `re`'s own."""

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def search(pattern: str, string: str) -> Any:
        deadline = _DEADLINE.get()
        timeout = None
        if deadline is not None:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                raise TimeoutError("regex timed out")
        return search(_cached(pattern), string, timeout)


_COMPILED: dict[str, Any] = {}


def _cached(pattern: str) -> Any:
    hit = _COMPILED.get(pattern)
    if hit is None:
        hit = compile_pattern(pattern)
        if len(_COMPILED) > 1000:
            _COMPILED.clear()
        _COMPILED[pattern] = hit
    return hit


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """JSON-schema validation inside the block stops at TimeoutError after `seconds`."""
    token = _DEADLINE.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


_BOUNDED: dict[Any, Any] | None = None


def _bounded_keywords() -> dict[Any, Any]:
    """jsonschema's keyword functions (and the helpers they call) that search with `re`,
    each copied with `re` standing for `_BoundedRe` in its globals: the library's own
    code and messages, with bounded matching. jsonschema itself is left untouched."""
    global _BOUNDED
    if _BOUNDED is None:
        # deferred: jsonschema loads only for a project that has a JSON schema
        import jsonschema._keywords
        import jsonschema._legacy_keywords
        import jsonschema._utils

        modules = (jsonschema._keywords, jsonschema._legacy_keywords, jsonschema._utils)
        spaces = {m.__name__: dict(vars(m)) for m in modules}
        copies: dict[Any, Any] = {}
        for space in spaces.values():
            space["re"] = _BoundedRe()
            for key, value in list(space.items()):
                if not (isinstance(value, types.FunctionType)
                        and value.__module__ in spaces):
                    continue
                if value not in copies:
                    copy = types.FunctionType(value.__code__, spaces[value.__module__],
                                              value.__name__, value.__defaults__,
                                              value.__closure__)
                    copy.__kwdefaults__ = value.__kwdefaults__
                    copy.__qualname__ = value.__qualname__
                    copies[value] = copy
                space[key] = copies[value]
        _BOUNDED = copies
    return _BOUNDED


_CLASSES: dict[Any, Any] = {}


def bounded_validator(cls: Any) -> Any:
    """The validator class `cls` with every keyword that matches a pattern bounded."""
    import jsonschema  # deferred: only for a project that has a JSON schema

    bounded = _CLASSES.get(cls)
    if bounded is None:
        copies = _bounded_keywords()
        swapped = {kw: copies[fn] for kw, fn in cls.VALIDATORS.items() if fn in copies}
        bounded = _CLASSES[cls] = jsonschema.validators.extend(cls, swapped)
    return bounded

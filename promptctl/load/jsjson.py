"""JSON as JavaScript writes and reads it: the `dump` and `load` template filters.

Templates imported from promptfoo (Nunjucks) print values with `dump`, which is
`JSON.stringify(value, null, spaces)`, and parse text with `load` (`JSON.parse`).
`dump` writes what JSON.stringify writes, byte for byte, for everything YAML, CSV and
JSONL can hold:
- compact by default: separators "," and ":", no space after either; with `spaces`
  (`dump(2)`, or a string such as `dump("\\t")`) one item a line, ": " after a key, as
  JSON.stringify's third argument (a number is capped at 10, a string at 10 chars);
- keys in the order they were written (never sorted), non-ASCII text as it is, no
  HTML escaping (Jinja's `tojson` writes `<` as `\\u003c` and sorts keys);
- numbers as JavaScript prints them: 1.0 is `1`, 1e21 is `1e+21`, 1e-7 is `1e-7`,
  NaN and the infinities are `null`, -0.0 is `0`. Whole numbers (int) are printed
  exactly, even past 2**53 where JavaScript would round them;
- a lone surrogate as `\\udXXX`, as JSON.stringify has done since ES2019.
A value JSON cannot hold (a date, a set, bytes) is a UserError naming its type.

Both are bounded: `dump` stops once its output passes the character budget of the
render (render_bounds), `load` refuses a text longer than that budget, and JSON nested
deeper than MAX_DEPTH is refused instead of recursing; each is a UserError that
templates.render names at the template's file:line.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

import jinja2

from .. import render_bounds
from ..errors import UserError

MAX_DEPTH = 200  # nesting of arrays and objects that load and dump accept
_ENCODE = json.encoder.py_encode_basestring  # ensure_ascii=False: "\"", "\\", controls
if json.encoder.c_encode_basestring is not None:  # pragma: no branch - CPython has it
    _ENCODE = json.encoder.c_encode_basestring
_SURROGATE = re.compile("[\ud800-\udfff]")


def js_number(value: float) -> str:
    """A float as JavaScript's Number.prototype.toString prints it (ECMA-262
    Number::toString): the shortest digits that round-trip, which Python's repr finds
    too, laid out by JavaScript's rules."""
    if math.isnan(value) or math.isinf(value):
        return "null"  # what JSON.stringify writes for them
    if value == 0:
        return "0"  # -0 too
    sign = "-" if value < 0 else ""
    digits_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()[1:]
    digits = "".join(map(str, digits_tuple))
    k = len(digits)
    n = int(exponent) + k  # value = 0.DIGITS x 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def _string(text: str) -> str:
    out: str = _ENCODE(text)
    if _SURROGATE.search(out):
        out = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", out)
    return out


def _gap(spaces: Any) -> str:
    """JSON.stringify's `space` argument as the indent of one level ('' : compact)."""
    if spaces is None:
        return ""
    if isinstance(spaces, bool):
        raise UserError("dump: the indent must be a number of spaces or a string, "
                        f"not {str(spaces).lower()}", hint="write dump or dump(2)")
    if isinstance(spaces, (int, float)):
        return " " * max(0, min(10, int(spaces)))
    if isinstance(spaces, str):
        return spaces[:10]
    raise UserError(f"dump: the indent must be a number of spaces or a string, not "
                    f"{type(spaces).__name__}", hint="write dump or dump(2)")


class _Writer:
    """JSON.stringify's serialisation, counting characters against `limit`."""

    def __init__(self, gap: str, limit: int) -> None:
        self.gap = gap
        self.limit = limit
        self.size = 0
        self.parts: list[str] = []

    def put(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.limit:
            raise render_bounds.RenderLimit(*_too_long(self.limit))
        self.parts.append(text)

    def value(self, value: Any, depth: int) -> None:
        if isinstance(value, jinja2.Undefined):
            str(value)  # StrictUndefined: the undefined variable's own error
        if value is None:
            self.put("null")
        elif value is True or value is False:
            self.put("true" if value else "false")
        elif isinstance(value, str):
            self.put(_string(value))
        elif isinstance(value, int):
            self.put(str(value))
        elif isinstance(value, float):
            self.put(js_number(value))
        elif isinstance(value, (list, tuple, dict)):
            if depth >= MAX_DEPTH:
                raise UserError(f"dump: the value is nested more than {MAX_DEPTH} levels "
                                "deep", hint="dump a part of it")
            self.container(value, depth + 1)
        else:
            raise UserError(f"dump: a {type(value).__name__} cannot be written as JSON",
                            hint="dump text, numbers, booleans, lists and mappings")

    def container(self, value: list[Any] | tuple[Any, ...] | dict[Any, Any],
                  depth: int) -> None:
        is_map = isinstance(value, dict)
        opening, closing = ("{", "}") if is_map else ("[", "]")
        if not value:
            self.put(opening + closing)
            return
        inner = "\n" + self.gap * depth if self.gap else ""
        self.put(opening)
        items = value.items() if isinstance(value, dict) else value
        for i, item in enumerate(items):
            if i:
                self.put(",")
            self.put(inner)
            if is_map:
                key, item = item
                self.put(_string(_key(key)))
                self.put(": " if self.gap else ":")
            self.value(item, depth)
        self.put(("\n" + self.gap * (depth - 1) if self.gap else "") + closing)


def _key(key: Any) -> str:
    """An object key as JavaScript makes it: String(key)."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return "null" if key is None else str(key).lower()
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return "NaN" if math.isnan(key) else ("Infinity" if key == math.inf else
                                             "-Infinity" if key == -math.inf
                                             else js_number(key))
    raise UserError(f"dump: a mapping key of type {type(key).__name__} cannot be "
                    "written as JSON", hint="use text keys")


def _too_long(limit: int) -> tuple[str, str]:
    return (f"rendered text longer than {limit:,} characters (limits.max_prompt_chars)",
            "render less (a value dumped is too big), or raise limits.max_prompt_chars "
            "in promptctl.yaml")


def _limit(env: Any) -> int:
    limit = getattr(env, "limit", None)
    return int(limit()) if callable(limit) else render_bounds.DEFAULTS.max_prompt_chars


@jinja2.pass_environment
def dump(env: Any, value: Any, spaces: Any = None) -> str:
    """`{{ value | dump }}`: JSON.stringify(value); `dump(2)`: JSON.stringify(value,
    null, 2)."""
    writer = _Writer(_gap(spaces), _limit(env))
    writer.value(value, 0)
    return "".join(writer.parts)


@jinja2.pass_environment
def load(env: Any, text: Any) -> Any:
    """`{{ (text | load).key }}`: JSON.parse(text)."""
    if isinstance(text, jinja2.Undefined):
        str(text)  # StrictUndefined: the undefined variable's own error
    if not isinstance(text, str):
        raise UserError(f"load: expects JSON text, got a {type(text).__name__}",
                        hint="load parses a string; a list or mapping is already data")
    limit = _limit(env)
    if len(text) > limit:
        raise render_bounds.RenderLimit(
            f"load: JSON text longer than {limit:,} characters (limits.max_prompt_chars)",
            "load less, or raise limits.max_prompt_chars in promptctl.yaml")
    if _nesting(text) > MAX_DEPTH:
        raise UserError(f"load: the JSON is nested more than {MAX_DEPTH} levels deep",
                        hint="flatten the JSON")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:  # past what _nesting counts (it cannot be: a safety net)
        raise UserError("load: the JSON is nested too deeply", hint="flatten the JSON"
                        ) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"load: the text is not JSON: {exc.msg} at line {exc.lineno} "
                        f"column {exc.colno}", hint="load parses JSON text, as "
                        "JSON.parse does") from None
    except ValueError as exc:  # NaN / Infinity, which JSON.parse refuses too
        raise UserError(f"load: the text is not JSON: {exc}",
                        hint="JSON has no NaN or Infinity") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"'{name}' is not a JSON value")


_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _nesting(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest (strings skipped): a cheap
    scan, so that json.loads never recurses past MAX_DEPTH."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return 0
    depth = deepest = 0
    for m in _BRACKETS.finditer(text):
        token = m.group()
        if token == "[" or token == "{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                break
        elif token == "]" or token == "}":
            depth -= 1
    return deepest

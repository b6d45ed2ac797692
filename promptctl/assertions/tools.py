"""Checks on the tool calls of an answer (ctx.tool_calls): tool-call, tool-calls,
no-tool-call and tool-args-schema.

    - {type: tool-call, value: {name: get_weather, arguments: {city: "{{ city }}"}}}
    - {type: tool-calls, value: [get_time, {name: get_weather}], ordered: true}
    - {type: no-tool-call}                     # or value: a name, or a list of names
    - {type: tool-args-schema}                 # against the prompt's own tool schemas

Invariants: a call's expected `arguments` are a partial mapping (every key given must be
present and equal, nested mappings partial too, lists equal, numbers by value so 1 is
1.0, true is not 1, strings exactly); an expected `schema` is compiled when the
assertion is validated (an invalid one is an AssertionSpecError, exit 2 at load) and
runs in bounded time (structured.Schema). A call whose arguments were not JSON (its
`arguments` is None) never matches `arguments` or a schema. Every reason names the call
at fault and how it differs, quoted briefly. The checks only read: no model, no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..results import ToolCall
from .base import AssertionContext, AssertionSpecError, Prepared, Types, kind_of, quote, suggest
from .regexes import deadline, timed_out
from .structured import Schema, json_equal

TYPES = Types()  # the types this module defines (builtins.py lists them)

ITEM_KEYS = ("name", "arguments", "schema")

# ------------------------------------------------------------------------- wording


def short_json(value: Any, limit: int = 60) -> str:
    """A value for a reason: compact JSON, shortened."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dq(text: str, limit: int = 60) -> str:
    """Text for a reason, double-quoted like the JSON around it, on one line."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return json.dumps(text, ensure_ascii=False)


def call_text(call: ToolCall, limit: int = 60) -> str:
    """`get_time({"city":"Paris"})`: a call as a reason shows it."""
    args = short_json(call.arguments, limit) if call.arguments is not None \
        else quote(call.raw, limit)
    return f"{call.name}({args})"


def _calls_text(calls: list[ToolCall], limit: int = 3) -> str:
    shown = ", ".join(call_text(c, 50) for c in calls[:limit])
    return shown + (f" and {len(calls) - limit} more" if len(calls) > limit else "")


def _no_calls(output: str) -> str:
    if output.strip():
        return f"no tool calls (the reply was text: {_dq(output, 40)})"
    return "no tool calls (and no text)"


def _calls(ctx: AssertionContext) -> list[ToolCall]:
    return [c if isinstance(c, ToolCall) else ToolCall.from_dict(c) for c in ctx.tool_calls]


# ---------------------------------------------------------------- expected calls


@dataclass(frozen=True)
class Expected:
    """One call an assertion looks for."""

    name: str
    arguments: dict[str, Any] | None
    schema: Schema | None

    @property
    def label(self) -> str:
        return f"{self.name}({short_json(self.arguments, 50)})" if self.arguments \
            else self.name


def expected_of(value: Any, p: Prepared, where: str = "") -> Expected:
    """A `{name, arguments?, schema?}` (or a bare name) as written, checked."""
    at = f"'{p.name}'{where}"
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        raise AssertionSpecError(f"{at} needs a tool name or a mapping {{name, arguments, "
                                 f"schema}}, got {kind_of(value)}", key="value",
                                 hint="e.g. {name: get_weather, arguments: {city: Paris}}")
    for key in value:
        if key not in ITEM_KEYS:
            near = suggest(str(key), ITEM_KEYS)
            raise AssertionSpecError(f"{at}: unknown key '{key}'", key="value",
                                     hint=(near + " " if near else "")
                                     + "a call takes: name, arguments, schema")
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        raise AssertionSpecError(f"{at} needs the tool's 'name', got {kind_of(name)}",
                                 key="value", hint="e.g. {name: get_weather}")
    arguments = value.get("arguments")
    if arguments is not None and not isinstance(arguments, dict):
        raise AssertionSpecError(f"{at}: 'arguments' must be a mapping of the expected "
                                 f"arguments, got {kind_of(arguments)}", key="value",
                                 hint="e.g. arguments: {city: Paris} (a partial mapping)")
    schema = value.get("schema")
    compiled = None
    if schema is not None:
        if not isinstance(schema, (dict, bool)):
            raise AssertionSpecError(f"{at}: 'schema' must be a JSON schema mapping, got "
                                     f"{kind_of(schema)}", key="value",
                                     hint="e.g. schema: {required: [city]}")
        try:
            compiled = Schema(schema, p.name)
        except AssertionSpecError as exc:
            raise AssertionSpecError(f"{at}: the 'schema' of {name}: {exc.message}",
                                     key="value", hint=exc.hint) from None
    return Expected(name, arguments, compiled)


def _partial_diff(expected: Any, actual: Any, path: str) -> str | None:
    """Where `actual` differs from `expected` (a partial mapping), in words ("with city
    "London", expected "Paris"", "without city (expected "Paris")"); None if it
    matches."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"with {path or 'arguments'} {short_json(actual, 40)}, expected a " \
                   f"mapping {short_json(expected, 40)}"
        for key, want in expected.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                return f"without {where} (expected {short_json(want, 40)})"
            diff = _partial_diff(want, actual[key], where)
            if diff is not None:
                return diff
        return None
    if json_equal(expected, actual):
        return None
    return f"with {path} {short_json(actual, 40)}, expected {short_json(expected, 40)}"


def mismatch(exp: Expected, call: ToolCall, timeout: float | None) -> str | None:
    """How `call` differs from `exp` (same name assumed), in words; None if it
    matches. Raises TimeoutError when the schema's patterns take too long."""
    if exp.arguments is None and exp.schema is None:
        return None
    if call.arguments is None:
        return f"{call.name}'s arguments are not JSON: {quote(call.raw, 40)}"
    if exp.arguments is not None:
        diff = _partial_diff(exp.arguments, call.arguments, "")
        if diff is not None:
            return f"{call.name} called {diff}"
    if exp.schema is not None:
        problem = exp.schema.problem(call.arguments, timeout)
        if problem is not None:
            return f"{call.name}'s arguments do not match the schema: {problem}"
    return None


def _explain(exp: Expected, calls: list[ToolCall], output: str, ctx: AssertionContext
             ) -> str:
    """Why no call in `calls` matches `exp`."""
    if not calls:
        return _no_calls(output)
    same = [c for c in calls if c.name == exp.name]
    if not same:
        declared = [t.get("function", {}).get("name") for t in ctx.tools]
        note = f"; the prompt declares no tool '{exp.name}'" if ctx.tools and \
            exp.name not in declared else ""
        return f"no call to {exp.name} (calls: {_calls_text(calls)}){note}"
    reason = mismatch(exp, same[0], ctx.check_timeout) or f"{exp.name} did not match"
    if len(same) > 1:
        reason += f" (and {len(same) - 1} more call{'s' if len(same) > 2 else ''} to " \
                  f"{exp.name}, none matching)"
    return reason


# ---------------------------------------------------------------------- tool-call


@TYPES.add("tool-call", prepare=lambda p: expected_of(p.value, p), inline=True,
           bounds_itself=True,  # a schema's patterns run under ctx.check_timeout
           value_hint="value: the tool's name, or {name, arguments (a partial mapping), "
                      "schema (a JSON schema of the arguments)}")
def _tool_call(output: str, exp: Expected, ctx: AssertionContext) -> Any:
    calls = _calls(ctx)
    try:
        for call in calls:
            if call.name == exp.name and mismatch(exp, call, ctx.check_timeout) is None:
                reason = f"called {call_text(call)}"
                return True, 1.0, reason, reason + " (must not)"
        reason = _explain(exp, calls, output, ctx)
    except TimeoutError:
        return None, 0.0, f"{timed_out(ctx.check_timeout)} matching the schema", None
    return False, 0.0, reason, f"no matching call to {exp.label}: {reason}"


# --------------------------------------------------------------------- tool-calls


@dataclass(frozen=True)
class Listed:
    items: tuple[Expected, ...]
    ordered: bool
    exact: bool
    threshold: float


def _flag(p: Prepared, key: str) -> bool:
    value = p.options.get(key, False)
    if not isinstance(value, bool):
        raise AssertionSpecError(f"'{key}' must be true or false, got {kind_of(value)}",
                                 key=key)
    return value


def _prep_listed(p: Prepared) -> Listed:
    value = p.value
    if not isinstance(value, list) or not value:
        got = "an empty list" if value == [] else kind_of(value)
        raise AssertionSpecError(f"'{p.name}' needs a list of calls as 'value', got {got}",
                                 key="value",
                                 hint="e.g. value: [get_time, {name: get_weather, "
                                      "arguments: {city: Paris}}] (no calls at all: "
                                      "no-tool-call)")
    items = tuple(expected_of(v, p, f" item {i}") for i, v in enumerate(value, 1))
    return Listed(items, _flag(p, "ordered"), _flag(p, "exact"),
                  1.0 if p.threshold is None else p.threshold)


def _unordered(fits: list[list[bool]], n_calls: int) -> dict[int, int]:
    """A maximum matching item -> call (each call used once), items tried in order."""
    owner: dict[int, int] = {}  # call -> item

    def place(i: int, seen: set[int]) -> bool:
        for j in range(n_calls):
            if fits[i][j] and j not in seen:
                seen.add(j)
                if j not in owner or place(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    for i in range(len(fits)):
        place(i, set())
    return {i: j for j, i in owner.items()}


def _ordered(fits: list[list[bool]], n_calls: int) -> dict[int, int]:
    """The most items matched by calls in the items' order (a longest common
    subsequence), earliest items first."""
    n = len(fits)
    best = [[0] * (n_calls + 1) for _ in range(n + 1)]  # of items[i:], calls[j:]
    for i in range(n - 1, -1, -1):
        for j in range(n_calls - 1, -1, -1):
            best[i][j] = max(best[i + 1][j], best[i][j + 1],
                             1 + best[i + 1][j + 1] if fits[i][j] else 0)
    pairs: dict[int, int] = {}
    i = j = 0
    while i < n and j < n_calls:
        if fits[i][j] and best[i][j] == 1 + best[i + 1][j + 1]:
            pairs[i] = j
            i, j = i + 1, j + 1
        elif best[i][j] == best[i][j + 1]:
            j += 1
        else:
            i += 1
    return pairs


@TYPES.add("tool-calls", options=("ordered", "exact"), prepare=_prep_listed, scored=True,
           default_threshold=1.0, inline=True, bounds_itself=True,
           value_hint="value: a list of calls, each a tool's name or {name, arguments, "
                      "schema}; ordered: true, exact: true")
def _tool_calls(output: str, arg: Listed, ctx: AssertionContext) -> Any:
    calls = _calls(ctx)
    try:
        fits = [[c.name == e.name and mismatch(e, c, ctx.check_timeout) is None
                 for c in calls] for e in arg.items]
        pairs = (_ordered if arg.ordered else _unordered)(fits, len(calls))
        total = len(arg.items)
        score = len(pairs) / total
        missing = next((i for i in range(total) if i not in pairs), None)
        detail = ""
        if missing is not None:
            exp = arg.items[missing]
            if not any(fits[missing]):
                detail = _explain(exp, calls, output, ctx)
            elif arg.ordered:
                detail = f"{exp.label} is called, but not in the order listed " \
                         f"(calls: {_calls_text(calls)})"
            else:
                k = sum(fits[missing])
                detail = f"{exp.label}: its {k} matching call{'s are' if k > 1 else ' is'} " \
                         f"taken by other listed items"
    except TimeoutError:
        return None, 0.0, f"{timed_out(ctx.check_timeout)} matching the schema", None
    used = set(pairs.values())
    extra = next((c for j, c in enumerate(calls) if j not in used), None) \
        if arg.exact else None
    made = f"{len(pairs)} of {total} listed calls made"
    if extra is not None:
        reason = f"unexpected call {call_text(extra)} (exact: only the listed calls)"
        if missing is not None:
            reason += f"; {made}, first missing: {detail}"
        return False, score, reason, f"{made}, and other calls too (must not)"
    if missing is None:
        how = (" in order" if arg.ordered else "") + (" and nothing else" if arg.exact
                                                     else "")
        reason = f"all {total} listed calls made{how}"
        return True, 1.0, reason, reason + " (must not)"
    reason = f"{made}; first missing: {detail}"
    if score >= arg.threshold:
        return True, score, f"{reason} (threshold {arg.threshold:g})", \
            f"{made}, at least {arg.threshold:g} (must not)"
    return False, score, reason, reason


# ------------------------------------------------------------------- no-tool-call


def _prep_none(p: Prepared) -> tuple[str, ...]:
    value = p.value
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or \
            not all(isinstance(n, str) and n.strip() for n in names):
        raise AssertionSpecError(f"'{p.name}' takes a tool name or a list of names as "
                                 f"'value', got {kind_of(value)}", key="value",
                                 hint="e.g. value: [delete_account] (no value: no calls "
                                      "at all)")
    return tuple(names)


@TYPES.add("no-tool-call", needs_value=False, prepare=_prep_none, inline=True,
           value_hint="value (optional): a tool name or a list of names that must not "
                      "be called; without it, no call at all")
def _no_tool_call(output: str, names: tuple[str, ...], ctx: AssertionContext) -> Any:
    calls = _calls(ctx)
    bad = [c for c in calls if not names or c.name in names]
    if not bad:
        if not calls:
            return True, 1.0, "no tool calls", "no tool calls (expected some)"
        what = " or ".join(names)
        return True, 1.0, f"no call to {what} (calls: {_calls_text(calls)})", \
            f"no call to {what}"
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    reason = f"called {call_text(bad[0])}{more}"
    return False, 0.0, reason, reason


# --------------------------------------------------------------- tool-args-schema


_CLOSED: dict[str, Schema] = {}  # canonical parameters -> compiled, additionalProperties closed
_CLOSED_LIMIT = 1024
_OPEN_KEYS = ("additionalProperties", "patternProperties", "unevaluatedProperties",
              "allOf", "anyOf", "oneOf", "$ref", "not", "if")


def closed(schema: Any) -> Any:
    """`schema` with additionalProperties false on each object schema that lists its
    properties and says nothing of others (itself, its properties' and items' schemas;
    never inside a combinator, where closing would refuse what the others allow)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    props = schema.get("properties")
    if isinstance(props, dict):
        out["properties"] = {k: closed(v) for k, v in props.items()}
        if not any(k in schema for k in _OPEN_KEYS):
            out["additionalProperties"] = False
    if isinstance(schema.get("items"), dict):
        out["items"] = closed(schema["items"])
    return out


def _schema_of(params: Any) -> Schema:
    key = json.dumps(params, sort_keys=True, default=str)
    compiled = _CLOSED.get(key)
    if compiled is None:
        compiled = Schema(closed(params if params is not None else {"type": "object"}),
                          "tool-args-schema")
        if len(_CLOSED) >= _CLOSED_LIMIT:
            _CLOSED.clear()
        _CLOSED[key] = compiled
    return compiled


def _where(path: Any) -> str:
    return ".".join(str(p) for p in path)


def _unexpected(err: Any) -> list[str]:
    instance = err.instance if isinstance(err.instance, dict) else {}
    props = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
    patterns = err.schema.get("patternProperties", {}) if isinstance(err.schema, dict) \
        else {}
    prefix = _where(err.path)
    return [f"{prefix}.{k}" if prefix else str(k) for k in instance
            if k not in props and not any(re.search(p, str(k)) for p in patterns)]


def schema_problem(call: ToolCall, tools: dict[str, Any], timeout: float | None
                   ) -> str | None:
    """What is wrong with `call` against its tool's schema, in words; None if valid."""
    if call.name not in tools:
        return f"call to undeclared tool '{call.name}'"
    if call.arguments is None:
        return f"{call.name}: arguments are not JSON: {quote(call.raw, 40)}"
    try:
        schema = _schema_of(tools[call.name])
    except AssertionSpecError as exc:
        return f"{call.name}: its schema is invalid: {exc.message}"
    with deadline(timeout):
        errors = list(schema.validator.iter_errors(call.arguments))
    if not errors:
        return None
    extra = next((e for e in errors if e.validator == "additionalProperties"), None)
    if extra is not None and _unexpected(extra):
        names = _unexpected(extra)
        listed = ", ".join(f"'{n}'" for n in names[:3])
        return f"{call.name}: unexpected argument{'s' if len(names) > 1 else ''} " \
               f"{listed} (not in its schema)"
    err = schema.best_match(errors)
    where = _where(err.path)
    message = err.message if len(err.message) <= 120 else err.message[:117] + "..."
    return f"{call.name}: {where + ': ' if where else ''}{message}"


@TYPES.add("tool-args-schema", needs_value=False, takes_value=False, scored=True,
           default_threshold=1.0, inline=True, bounds_itself=True,
           value_hint="no value: each call's arguments are checked against its tool's "
                      "own `parameters` in the prompt")
def _tool_args_schema(output: str, arg: Prepared, ctx: AssertionContext) -> Any:
    calls = _calls(ctx)
    if not calls:
        return True, 1.0, "no tool calls to check", "no tool calls to check (must not)"
    tools = {t["function"]["name"]: t["function"].get("parameters")
             for t in ctx.tools if isinstance(t, dict) and isinstance(t.get("function"), dict)}
    threshold = 1.0 if arg.threshold is None else arg.threshold
    try:
        problems = [p for p in (schema_problem(c, tools, ctx.check_timeout) for c in calls)
                    if p is not None]
    except TimeoutError:
        return None, 0.0, f"{timed_out(ctx.check_timeout)} matching the schema", None
    total = len(calls)
    score = (total - len(problems)) / total
    if not problems:
        reason = f"{total} call{'s' if total > 1 else ''} valid against " \
                 f"{'their tools' if total > 1 else 'its tool'}' schema"
        return True, 1.0, reason, reason + " (must not)"
    counted = f"{total - len(problems)} of {total} calls valid"
    reason = f"{problems[0]}; {counted}"
    if score >= threshold:
        return True, score, f"{reason} (threshold {threshold:g})", \
            f"{counted}, at least {threshold:g} (must not)"
    return False, score, reason, reason

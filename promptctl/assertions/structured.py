"""Checks on structured output: is-json (optionally with a schema) and json-schema.

jsonschema is imported when a schema is first compiled, never at module import: `lint`
of a suite without schemas does not pay for it. The schema's patterns (`pattern`,
`patternProperties`) are matched in bounded time (see regexes.py): past the check's
time limit the check fails with "timed out".

A schema is self-contained: a `$ref` may point only inside it (`#/$defs/x`, or an `$id`
it defines). jsonschema would otherwise fetch `file://` and `http(s)://` references and
quote what it read in its messages; an external `$ref` is refused when the assertion is
validated, and the validator's registry refuses to retrieve anything.
"""

from __future__ import annotations

import json
from typing import Any

from .base import AssertionContext, AssertionSpecError, Prepared, Types, kind_of, quote
from .regexes import bounded_validator, deadline, timed_out

TYPES = Types()  # the types this module defines (builtins.py lists them)


def parse_json(text: str) -> tuple[bool, Any]:
    """(True, value) or (False, 'not valid JSON: why')."""
    stripped = text.strip()
    if not stripped:
        return False, "not valid JSON: the output is empty"
    try:
        return True, json.loads(stripped)
    except json.JSONDecodeError as exc:
        return False, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return False, "not valid JSON: nested too deeply"


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: true is not 1, 1 is 1.0, tuples are lists."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(
            json_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(
            json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)):
        return isinstance(b, (int, float)) and a == b
    return type(a) is type(b) and a == b


REF_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")


def external_refs(schema: Any) -> list[str]:
    """Every reference in `schema` to a document other than itself (a `$ref` whose
    part before '#' is not empty and names no `$id` defined in it)."""
    ids: set[str] = set()
    refs: list[str] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and key == "$id":
                    ids.add(value.split("#", 1)[0].rstrip("/"))
                elif isinstance(value, str) and key in REF_KEYS:
                    refs.append(value)
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return [r for r in refs if r.split("#", 1)[0] and
            r.split("#", 1)[0].rstrip("/") not in ids]


def _no_retrieval(uri: str) -> Any:
    from referencing.exceptions import NoSuchResource  # deferred: see the module docstring

    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # never a file or the network


class Schema:
    """A compiled JSON schema validator."""

    __slots__ = ("best_match", "validator")

    def __init__(self, schema: Any, name: str) -> None:
        # deferred: jsonschema loads when a schema is first compiled (module docstring)
        import jsonschema
        from jsonschema.exceptions import best_match

        if not isinstance(schema, (dict, bool)):
            raise AssertionSpecError(
                f"'{name}' needs a JSON schema mapping as 'value', got {kind_of(schema)}",
                key="value", hint="write the schema inline, e.g. value: {type: object, "
                                  "required: [name]}")
        outside = external_refs(schema)
        if outside:
            raise AssertionSpecError(
                f"JSON schema $ref {outside[0]!r} points outside the schema: promptctl "
                "does not read schema files or URLs", key="value",
                hint="inline the referenced schema under $defs and write "
                     "$ref: '#/$defs/NAME'")
        cls = jsonschema.validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            where = exc.json_path if exc.path else ""
            raise AssertionSpecError(
                f"invalid JSON schema{' at ' + where if where else ''}: {exc.message}",
                key="value", hint="see https://json-schema.org/understanding-json-schema"
            ) from None
        import referencing  # deferred, as jsonschema above
        from jsonschema_specifications import REGISTRY as SPECIFICATIONS

        # the metaschemas only: no $ref is ever retrieved (see the module docstring)
        registry = SPECIFICATIONS.combine(
            referencing.Registry(retrieve=_no_retrieval))  # type: ignore[call-arg]
        self.validator = bounded_validator(cls)(schema, format_checker=cls.FORMAT_CHECKER,
                                                registry=registry)
        self.best_match = best_match

    def problem(self, instance: Any, timeout: float | None = None) -> str | None:
        """None if the instance is valid, else the most relevant error in plain words.
        Raises TimeoutError when the schema's patterns take more than `timeout` s."""
        with deadline(timeout):
            errors = list(self.validator.iter_errors(instance))
        if not errors:
            return None
        err = self.best_match(errors)
        message = err.message
        instance = repr(err.instance)
        if len(instance) > 50 and message.startswith(instance):  # "{...} is not of type"
            message = instance[:47] + "..." + message[len(instance):]
        if len(message) > 160:
            message = message[:157] + "..."
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{err.json_path}: {message}{more}"


def _prep_is_json(p: Prepared) -> Schema | None:
    return None if p.value is None else Schema(p.value, p.name)


def _with_output(reason: str, output: str) -> str:
    return f"{reason}; got {quote(output)}" if output.strip() else reason


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


@TYPES.add("is-json", needs_value=False, prepare=_prep_is_json,
          bounds_itself=True,  # its patterns run under ctx.check_timeout (regexes.py)
          value_hint="value (optional): a JSON schema the parsed output must match")
def _is_json(output: str, schema: Schema | None, ctx: AssertionContext) -> Any:
    ok, parsed = parse_json(output)
    if not ok:
        return False, 0.0, _with_output(parsed, output), parsed
    if schema is None:
        reason = f"valid JSON ({_kind(parsed)})"
        return True, 1.0, reason, reason + " (must not)"
    try:
        problem = schema.problem(parsed, ctx.check_timeout)
    except TimeoutError:
        return None, 0.0, f"{timed_out(ctx.check_timeout)} matching the schema", None
    if problem is None:
        reason = "valid JSON matching the schema"
        return True, 1.0, reason, reason + " (must not)"
    return False, 0.0, problem, f"does not match the schema: {problem}"


@TYPES.add("json-schema", prepare=lambda p: Schema(p.value, p.name),
          bounds_itself=True,  # its patterns run under ctx.check_timeout (regexes.py)
          value_hint="value: a JSON schema mapping, e.g. {type: object, required: [name]}")
def _json_schema(output: str, schema: Schema, ctx: AssertionContext) -> Any:
    ok, parsed = parse_json(output)
    if not ok:
        return False, 0.0, _with_output(parsed, output), parsed
    try:
        problem = schema.problem(parsed, ctx.check_timeout)
    except TimeoutError:
        return None, 0.0, f"{timed_out(ctx.check_timeout)} matching the schema", None
    if problem is None:
        return True, 1.0, "matches the JSON schema", "matches the JSON schema (must not)"
    return False, 0.0, problem, f"does not match the schema: {problem}"

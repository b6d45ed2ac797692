"""A parsed promptfoo `javascript` expression (jsexpr.py) as promptctl assertions; the
Python and Jinja it may need are jspython.py's (`transform` is re-exported here).

`rewrite(src, negated)` tries, in order:

1. built-in assertions whose conjunction means the expression: `&&` of atoms becomes
   one assertion each (`!(a || b)` too, by De Morgan), `a || b || ...` of `includes`
   becomes contains-any. The atoms: `includes` (contains, icontains), `startsWith`
   (starts-with), `endsWith` (an anchored regex), `===` / `!==` (equals), `.length`
   comparisons (length, merged into one min/max), `/re/.test(...)` (regex),
   `JSON.parse(output).a.b === v` (json-schema: the path's objects and `const`);
   a text method chain before them (`trim`, `toLowerCase`, `toUpperCase`) is the
   assertion's transform.
2. else one inline python expression (`{type: python, value: EXPR}`, names `output`
   and `context`) when every node has a Python twin with the same result for a string
   output: string methods, `len`, comparisons of same-typed values, `and` / `or` /
   `not` of booleans.
3. else `Unsupported`: the caller leaves the assertion out and quotes the expression.

The result of (1) or (2) is exact except where `Rewritten.approximations` says, and
for what docs/promptfoo.md lists for every rewrite (UTF-16 `.length`, `trim`'s
whitespace set, Unicode case mapping).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .jsexpr import (
    Bin,
    Call,
    Lit,
    Member,
    Node,
    Not,
    Output,
    Regex,
    Unsupported,
    Var,
    function_body,
    parse,
)
from .jspython import FILTERS, INHERITED, python_expr, python_regex, transform

__all__ = ["Rewritten", "Unsupported", "rewrite", "transform"]


@dataclass
class Rewritten:
    asserts: list[dict[str, Any]]
    approximations: list[str] = field(default_factory=list)


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "===": "===", "!==": "!==",
         "==": "==", "!=": "!="}
_INVERT = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "===": "!==", "!==": "===",
           "==": "!=", "!=": "=="}


def rewrite(src: str, negated: bool = False) -> Rewritten:
    """The promptctl assertions for a `javascript` value (`not-javascript` when
    negated); raises Unsupported naming what could not be read."""
    node = parse(function_body(src))
    approximations: list[str] = []
    native = _native(node, negated, approximations)
    if native is not None:
        return Rewritten(_merge_lengths(native), approximations)
    code, kind = python_expr(Not(node) if negated else node)
    if kind != "bool":
        raise Unsupported("an expression whose value is not true or false")
    return Rewritten([{"type": "python", "value": code}])


# ---------------------------------------------------------------- built-in assertions


def _chain(node: Node) -> list[str] | None:
    """The Jinja filters of `output.trim().toLowerCase()...`, or None."""
    filters: list[str] = []
    while isinstance(node, Call) and node.name in FILTERS and not node.args \
            and node.obj is not None:
        filters.append(FILTERS[node.name])
        node = node.obj
    return filters[::-1] if isinstance(node, Output) else None


def _with_transform(spec: dict[str, Any], filters: list[str]) -> dict[str, Any]:
    if filters:
        spec["transform"] = " | ".join(["output", *filters])
    return spec


def _text_arg(node: Node) -> str | None:
    if isinstance(node, Lit) and isinstance(node.value, str):
        return node.value
    if isinstance(node, Var) and node.name.isidentifier():
        return "{{ " + node.name + " }}"
    return None


def _native(node: Node, negated: bool, notes: list[str]) -> list[dict[str, Any]] | None:
    if isinstance(node, Not):
        return _native(node.operand, not negated, notes)
    if isinstance(node, Bin) and node.op in ("&&", "||"):
        if (node.op == "&&") != negated:  # a conjunction, possibly by De Morgan
            left = _native(node.left, negated, notes)
            right = _native(node.right, negated, notes) if left is not None else None
            return None if left is None or right is None else left + right
        if negated:
            return None
        any_of = _contains_any(node)
        return None if any_of is None else [any_of]
    atom = _atom(node, negated, notes)
    return None if atom is None else atom


def _disjuncts(node: Node) -> list[Node]:
    if isinstance(node, Bin) and node.op == "||":
        return _disjuncts(node.left) + _disjuncts(node.right)
    return [node]


def _contains_any(node: Node) -> dict[str, Any] | None:
    needles: list[str] = []
    chains: list[list[str]] = []
    for part in _disjuncts(node):
        if not (isinstance(part, Call) and part.name == "includes" and part.obj is not None
                and len(part.args) == 1):
            return None
        chain = _chain(part.obj)
        arg = part.args[0]
        if chain is None or not (isinstance(arg, Lit) and isinstance(arg.value, str)) \
                or not arg.value:
            return None
        chains.append(chain)
        needles.append(arg.value)
    if any(c != chains[0] for c in chains):
        return None
    if _folds(chains[0], needles):
        return {"type": "icontains-any", "value": needles}
    return _with_transform({"type": "contains-any", "value": needles}, chains[0])


def _folds(chain: list[str], needles: list[str]) -> bool:
    """`output.toLowerCase().includes(x)` as icontains: the needles must already be
    lower case (upper for toUpperCase) ASCII, else JavaScript never finds them."""
    if chain == ["lower"]:
        return all(n.isascii() and n == n.lower() for n in needles)
    if chain == ["upper"]:
        return all(n.isascii() and n == n.upper() for n in needles)
    return False


def _neg(kind: str, negated: bool) -> str:
    return f"not-{kind}" if negated else kind


def _atom(node: Node, negated: bool, notes: list[str]) -> list[dict[str, Any]] | None:
    if isinstance(node, Call) and node.obj is not None and len(node.args) == 1:
        if isinstance(node.obj, Regex) and node.name == "test":
            chain = _chain(node.args[0])
            if chain is None:
                return None
            pattern = python_regex(node.obj.pattern, node.obj.flags)
            return [_with_transform({"type": _neg("regex", negated), "value": pattern},
                                    chain)]
        chain = _chain(node.obj)
        needle = _text_arg(node.args[0])
        if chain is None or not needle:
            return None
        if node.name == "includes":
            if isinstance(node.args[0], Lit) and _folds(chain, [needle]):
                return [{"type": _neg("icontains", negated), "value": needle}]
            return [_with_transform({"type": _neg("contains", negated), "value": needle},
                                    chain)]
        if node.name == "startsWith":
            return [_with_transform({"type": _neg("starts-with", negated),
                                     "value": needle}, chain)]
        if node.name == "endsWith" and isinstance(node.args[0], Lit):
            return [_with_transform({"type": _neg("regex", negated),
                                     "value": re.escape(needle) + r"\Z"}, chain)]
        return None
    if isinstance(node, Bin) and node.op in _INVERT:
        left, op, right = node.left, node.op, node.right
        if isinstance(left, (Lit, Var)):
            left, op, right = right, _FLIP[op], left
        if negated:
            op = _INVERT[op]
        return _compare(left, op, right, notes)
    return None


def _compare(left: Node, op: str, right: Node, notes: list[str]) -> list[dict[str, Any]] | None:
    if isinstance(left, Member) and left.name == "length" and isinstance(right, Lit) \
            and isinstance(right.value, (int, float)) and not isinstance(right.value, bool):
        chain = _chain(left.obj)
        limits = _length_limits(op, float(right.value))
        if chain is None or limits is None:
            return None
        kind, bounds = limits
        return [_with_transform({"type": kind, **bounds}, chain)]
    chain = _chain(left)
    if chain is not None and op in ("===", "==", "!==", "!="):
        text = _text_arg(right)
        if text is None:
            return None
        kind = "equals" if op in ("===", "==") else "not-equals"
        return [_with_transform({"type": kind, "value": text}, chain)]
    path = _json_path(left)
    if path is not None and isinstance(right, Lit):
        filters, keys = path
        return _json_compare(keys, op, right.value, filters, notes)
    return None


def _length_limits(op: str, n: float) -> tuple[str, dict[str, int]] | None:
    """A length comparison (`output.length OP n`) as length's integer limits; None for
    one that is always false."""
    if op in ("===", "==", "!==", "!="):
        if n != int(n) or n < 0:
            return None
        exact = {"min_chars": int(n), "max_chars": int(n)}
        return ("length" if op in ("===", "==") else "not-length"), exact
    if op == "<":
        hi = math.ceil(n) - 1
        return None if hi < 0 else ("length", {"max_chars": hi})
    if op == "<=":
        hi = math.floor(n)
        return None if hi < 0 else ("length", {"max_chars": hi})
    if op == ">":
        return "length", {"min_chars": max(math.floor(n) + 1, 0)}
    return "length", {"min_chars": max(math.ceil(n), 0)}


def _merge_lengths(asserts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`output.length > 10 && output.length < 100`: one length with both limits."""
    out: list[dict[str, Any]] = []
    for spec in asserts:
        prev = next((o for o in out if o["type"] == "length" and spec["type"] == "length"
                     and o.get("transform") == spec.get("transform")
                     and not set(o) & set(spec) - {"type", "transform"}), None)
        if prev is None:
            out.append(dict(spec))
            continue
        prev.update(spec)
    for spec in out:  # a range that is empty is a check that always fails: keep both
        if spec.get("min_chars", 0) > spec.get("max_chars", math.inf):
            return asserts
    return out


def _json_path(node: Node) -> tuple[list[str], list[str]] | None:
    keys: list[str] = []
    while isinstance(node, Member):
        if node.name in INHERITED or node.name.isdigit():
            return None
        keys.append(node.name)
        node = node.obj
    if not (isinstance(node, Call) and node.obj is None and node.name == "JSON.parse"):
        return None
    chain = _chain(node.args[0])
    return None if chain is None else (chain, keys[::-1])


def _nested(keys: list[str], leaf: dict[str, Any]) -> dict[str, Any]:
    schema = leaf
    for key in reversed(keys):
        schema = {"type": "object", "required": [key], "properties": {key: schema}}
    return schema


def _not_throwing(keys: list[str]) -> dict[str, Any]:
    """The outputs on which reading JSON.parse(output).k1...kn does not throw: no step
    before the last reads a property of null or undefined."""
    schema: dict[str, Any] = {"not": {"type": "null"}}
    for key in reversed(keys[:-1]):
        schema = {"type": "object", "required": [key], "properties": {key: schema}}
    return schema


_NUMBER_BOUNDS = {"<": "exclusiveMaximum", "<=": "maximum", ">": "exclusiveMinimum",
                  ">=": "minimum"}


def _json_compare(keys: list[str], op: str, value: Any, filters: list[str],
                  notes: list[str]) -> list[dict[str, Any]] | None:
    if op in ("===", "!=="):
        equal = _nested(keys, {"const": value})
        if op == "===":
            return [_with_transform({"type": "json-schema", "value": equal}, filters)]
        specs: list[dict[str, Any]] = [{"type": "json-schema", "value": _not_throwing(keys)}] \
            if keys else [{"type": "is-json"}]
        specs.append({"type": "not-json-schema", "value": equal})
        return [_with_transform(s, filters) for s in specs]
    bound = _NUMBER_BOUNDS.get(op)
    if bound is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    shown = "JSON.parse(output)" + "".join(f".{k}" for k in keys)
    notes.append(f"{shown} {op} {value}: JavaScript also compares a value that is not a "
                 "number (a numeric string, true, null, [5]); the JSON schema requires a "
                 "number")
    leaf = {"type": "number", bound: value}
    return [_with_transform({"type": "json-schema", "value": _nested(keys, leaf)}, filters)]

"""JavaScript (a tree from jsexpr.py) as Python and Jinja code that computes the same
thing for a string `output`: `python_expr` (an inline python check), `transform` (a
promptctl transform) and `python_regex` (a JavaScript regex for Python's `re`).

Invariants: a node without a twin of the same result raises Unsupported; nothing is
evaluated here.
"""

from __future__ import annotations

import json
import re

from .jsexpr import (
    Bin,
    Call,
    Index,
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

FILTERS = {"trim": "trim", "toLowerCase": "lower", "toUpperCase": "upper"}
# names every JavaScript value (or every object, string, array) has: not a JSON key
INHERITED = frozenset({"length", "constructor", "__proto__", "toString", "valueOf",
                       "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable",
                       "toLocaleString", "__defineGetter__", "__defineSetter__",
                       "__lookupGetter__", "__lookupSetter__"})


def python_expr(node: Node) -> tuple[str, str]:
    """(Python code, its type: str num bool list null) with JavaScript's result."""
    return _py(node)


# ------------------------------------------------------------------------ inline python

_PY_METHODS = {"toLowerCase": "lower", "toUpperCase": "upper", "trim": "strip",
               "trimStart": "lstrip", "trimEnd": "rstrip"}


def _py(node: Node) -> tuple[str, str]:
    """(Python code, its type: str num bool list null) with JavaScript's result."""
    if isinstance(node, Output):
        return "output", "str"
    if isinstance(node, Lit):
        v = node.value
        if v is None:
            return "None", "null"
        if isinstance(v, bool):
            return repr(v), "bool"
        if isinstance(v, float) and v == int(v) and abs(v) < 2 ** 53:
            return repr(int(v)), "num"
        return repr(v), "str" if isinstance(v, str) else "num"
    if isinstance(node, Not):
        code, kind = _py(node.operand)
        if kind not in ("bool", "str", "num"):
            raise Unsupported("'!' of a list or null")
        return f"(not {code})", "bool"
    if isinstance(node, Member):
        code, kind = _py(node.obj)
        if node.name == "length" and kind in ("str", "list"):
            return f"len({code})", "num"
        raise Unsupported(f"'.{node.name}' in a check")
    if isinstance(node, Call):
        return _py_call(node)
    if isinstance(node, Bin):
        return _py_bin(node)
    raise Unsupported(_what(node))


def _what(node: Node) -> str:
    if isinstance(node, Var):
        return "context.vars in a check that is not a built-in assertion"
    if isinstance(node, Regex):
        return "a regex in a check that is not a built-in assertion"
    if isinstance(node, Index):
        return "indexing in a check"
    return type(node).__name__


def _py_call(node: Call) -> tuple[str, str]:
    if node.obj is None:
        raise Unsupported("JSON.parse in a check that is not a built-in assertion")
    if isinstance(node.obj, Regex):
        raise Unsupported(_what(node.obj))
    if node.name not in _PY_METHODS and node.name not in ("includes", "startsWith",
                                                          "endsWith", "split", "replace"):
        raise Unsupported(f"'.{node.name}()'")
    code, kind = _py(node.obj)
    if kind != "str":
        raise Unsupported(f"'.{node.name}()' of a {kind}")
    args = [_py(a) for a in node.args]
    if node.name in _PY_METHODS and not args:
        return f"{code}.{_PY_METHODS[node.name]}()", "str"
    if any(k != "str" for _, k in args):
        raise Unsupported(f"'.{node.name}()' with an argument that is not text")
    if node.name == "includes" and len(args) == 1:
        return f"({args[0][0]} in {code})", "bool"
    if node.name in ("startsWith", "endsWith") and len(args) == 1:
        method = "startswith" if node.name == "startsWith" else "endswith"
        return f"{code}.{method}({args[0][0]})", "bool"
    literal = [a.value for a in node.args if isinstance(a, Lit)]
    if node.name == "split" and len(literal) == 1 == len(args) and literal[0]:
        return f"{code}.split({args[0][0]})", "list"
    if node.name == "replace" and len(literal) == 2 == len(args) and literal[0] \
            and "$" not in str(literal[1]):
        return f"{code}.replace({args[0][0]}, {args[1][0]}, 1)", "str"
    raise Unsupported(f"'.{node.name}()' with these arguments")


_PY_OPS = {"===": "==", "==": "==", "!==": "!=", "!=": "!=", "<": "<", "<=": "<=",
           ">": ">", ">=": ">="}


def _py_bin(node: Bin) -> tuple[str, str]:
    left, lk = _py(node.left)
    right, rk = _py(node.right)
    if node.op in ("&&", "||"):
        if lk != "bool" or rk != "bool":
            raise Unsupported(f"'{node.op}' of values that are not true or false")
        return f"({left} {'and' if node.op == '&&' else 'or'} {right})", "bool"
    if node.op in ("<", "<=", ">", ">="):
        if lk != "num" or rk != "num":
            raise Unsupported(f"'{node.op}' of values that are not both numbers")
    elif lk != rk or lk in ("list", "null"):
        raise Unsupported(f"'{node.op}' of a {lk} and a {rk}")
    return f"({left} {_PY_OPS[node.op]} {right})", "bool"


# -------------------------------------------------------------------------- transform


def transform(src: str) -> str:
    """A promptfoo `transform` (JavaScript over `output` and `context`) as a promptctl
    transform; raises Unsupported."""
    return _jinja(parse(function_body(src)))[0]


def _jinja_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a Jinja string literal reads \" and \n


def _atomic(code: str) -> str:
    return code if re.fullmatch(r"[\w.\[\]\"'()]*", code) and "|" not in code \
        else f"({code})"


def _jinja(node: Node) -> tuple[str, str]:
    """(Jinja expression, type: str json list num)."""
    if isinstance(node, Output):
        return "output", "str"
    if isinstance(node, Var) and node.name.isidentifier():
        return node.name, "json"
    if isinstance(node, Lit) and isinstance(node.value, str):
        return _jinja_str(node.value), "str"
    if isinstance(node, Lit) and isinstance(node.value, int) and not isinstance(node.value,
                                                                                 bool):
        return repr(node.value), "num"
    if isinstance(node, Call) and node.obj is None:  # JSON.parse
        code, kind = _jinja(node.args[0])
        if kind != "str":
            raise Unsupported("JSON.parse of something that is not text")
        return f"{code} | from_json", "json"
    if isinstance(node, Member):
        code, kind = _jinja(node.obj)
        if node.name == "length" and kind in ("str", "list", "json"):
            return f"{code} | length", "num"
        if kind != "json" or node.name in INHERITED:
            raise Unsupported(f"'.{node.name}' in a transform")
        return f"{_atomic(code)}[{_jinja_str(node.name)}]", "json"
    if isinstance(node, Index):
        code, kind = _jinja(node.obj)
        if kind not in ("list", "json") or node.index < 0:
            raise Unsupported("indexing this in a transform")
        return f"{_atomic(code)}[{node.index}]", "json" if kind == "json" else "str"
    if isinstance(node, Call) and node.obj is not None:
        return _jinja_call(node)
    raise Unsupported(f"{type(node).__name__} in a transform")


def _jinja_call(node: Call) -> tuple[str, str]:
    assert node.obj is not None
    code, kind = _jinja(node.obj)
    if kind != "str":
        raise Unsupported(f"'.{node.name}()' of something that is not text")
    if node.name in FILTERS and not node.args:
        return f"{code} | {FILTERS[node.name]}", "str"
    if node.name in ("trimStart", "trimEnd") and not node.args:
        return f"{_atomic(code)}.{'lstrip' if node.name == 'trimStart' else 'rstrip'}()", \
            "str"
    args = [a.value for a in node.args if isinstance(a, Lit) and isinstance(a.value, str)]
    if len(args) != len(node.args):
        raise Unsupported(f"'.{node.name}()' with an argument that is not a string literal")
    if node.name == "split" and len(args) == 1 and args[0]:
        return f"{_atomic(code)}.split({_jinja_str(args[0])})", "list"
    if node.name == "replace" and len(args) == 2 and args[0] and "$" not in args[1]:
        return (f"{_atomic(code)}.replace({_jinja_str(args[0])}, {_jinja_str(args[1])}, 1)",
                "str")
    raise Unsupported(f"'.{node.name}()' in a transform")


# ------------------------------------------------------------------------------ regex


def python_regex(pattern: str, flags: str = "") -> str:
    """A JavaScript regex (no `u`, `v` or `y` flag) as a Python `re` pattern that
    matches the same strings: `$` only at the very end (JavaScript has no
    before-a-final-newline rule), `\\d \\w \\b` ASCII as in JavaScript, named groups in
    Python's spelling, the i/m/s flags inline. Raises Unsupported otherwise."""
    if set(flags) - set("gimsd"):
        raise Unsupported(f"regex flags {flags!r}")
    out: list[str] = []
    in_class = False
    ascii_classes = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1:i + 2]
            if not nxt:
                raise Unsupported("a regex ending in a backslash")
            if nxt in "dDwWbB":
                ascii_classes = True
            if nxt == "k" and pattern.startswith("<", i + 2):
                end = pattern.index(">", i) if ">" in pattern[i:] else -1
                if end < 0:
                    raise Unsupported("a broken named back-reference")
                out.append(f"(?P={pattern[i + 3:end]})")
                i = end + 1
                continue
            if nxt in "cpPu" or (nxt.isdigit() and nxt != "0" and in_class):
                raise Unsupported(f"the regex escape \\{nxt}")
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            elif ch == "[":
                out.append("\\[")  # literal in JavaScript, a nested set to Python's future
                i += 1
                continue
            out.append(ch)
        elif ch == "[":
            if pattern.startswith("[^]", i) or pattern.startswith("[]", i):
                raise Unsupported("an empty regex class")
            in_class = True
            out.append(ch)
            if pattern.startswith("[^", i):
                out.append("^")
                i += 1
        elif ch == "$":
            out.append(r"\Z" if "m" not in flags else "$")
        elif pattern.startswith("(?<", i) and not pattern.startswith(("(?<=", "(?<!"), i):
            out.append("(?P<")
            i += 3
            continue
        elif pattern.startswith("(?", i) and not pattern.startswith(
                ("(?:", "(?=", "(?!", "(?<=", "(?<!"), i):
            raise Unsupported("a regex group modifier")
        else:
            out.append(ch)
        i += 1
    prefix = "".join(f for f in "ims" if f in flags) + ("a" if ascii_classes else "")
    result = (f"(?{prefix})" if prefix else "") + "".join(out)
    try:
        re.compile(result)
    except re.error as exc:
        raise Unsupported(f"a regex Python reads differently ({exc})") from None
    return result

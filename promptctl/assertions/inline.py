"""Inline `python` assertions: a `value` that is Python source rather than a target
(custom.py calls and judges both kinds; this module tells them apart and compiles the
source). "Inline" here means code written in the suite, not the `inline` flag of a
check type (base.Entry: may run on the event loop), which `python` never has.

    - {type: python, value: "len(output) < 80"}          # an expression: its value
    - {type: python, value: "'Paris' in output"}
    - type: python                                          # a body: what it returns
      value: |
        words = output.split()
        return len(words) <= context["vars"]["max_words"]

The rule (`split_target`): a value is a target when, stripped, it is one line of the
form WHERE:NAME, NAME an identifier and WHERE made of letters, digits, `_ . - / \\`
and inner spaces (`checks:fn`, `pkg.mod:fn`, `tests/checks.py:fn`); anything else is
code. The test is on the text alone, never on which files exist, so a value means the
same thing in every project and at lint time; nothing useful is lost: the only Python
of that shape is an annotation (`x: int`) or a lambda (`lambda x: y`), neither a check.

Code is an expression when the whole of it parses as one (`output.startswith("A")`,
also over several lines inside brackets), else a function body, as promptfoo runs
multi-line code: it gets `output` and `context` and `return`s its verdict. The names
it sees are those two, Python's builtins and `json` (promptfoo's wrapper imports it);
anything else it imports. A name it reads that none of these gives and the code never
binds (a typo: `len(outptu)`) is an error at lint time too (`_check_names`). It
returns what a check function returns (custom.py's verdict: a bool, a score in [0, 1]
against `threshold`, a dict {pass, score, reason}).

Invariants:
- `prepare` only parses and compiles (`ast.parse`, `compile`): no user code runs in
  promptctl's process. A syntax error (compile-time ones included: `break` outside a
  loop, ...) is an AssertionSpecError on the assertion's `value`, so `lint` and `run`
  report it at the suite's file:line, exit 2.
- The compiled code object goes to the worker process marshalled (pool.py,
  pyworker.py: the same interpreter); it runs there, under the same time limit and
  isolation as a file's check. A body is compiled as the function `check(output,
  context)`, so defining it in the worker runs nothing of the user's either.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import marshal
import re
import textwrap

from ..errors import quote
from .base import AssertionSpecError

FILENAME = "<python assertion>"
TARGET = re.compile(r"([\w.\-/\\](?:[\w.\-/\\ ]*[\w.\-/\\])?):([^\W\d]\w*)")
HINT = ("fix the Python: an expression such as len(output) < 80, or lines that "
        "`return` the verdict; or name a function: module:function, path/file.py:function")


def split_target(value: str) -> tuple[str, str] | None:
    """(WHERE, NAME) of a target value (`checks:fn`, `x/y.py:fn`); None for code."""
    match = TARGET.fullmatch(value.strip())
    return (match[1], match[2]) if match else None


class Inline:
    """Inline code, compiled: `mode` "eval" (an expression) or "body"; `code` the
    marshalled code object the worker runs; `target` how reasons name it."""

    __slots__ = ("code", "mode", "root", "target", "threshold")

    def __init__(self, source: str, mode: str, code: bytes, threshold: float) -> None:
        self.target = quote(source, 60)  # one line: repr() shows a newline as \n
        self.mode = mode
        self.code = code
        self.threshold = threshold
        self.root: tuple[object, str] | None = None  # (ctx.root, resolved): the last


def _source(value: str) -> tuple[str, int]:
    """The code without its surrounding blank lines and common indentation, and how
    many lines were cut before it (for the line numbers of errors)."""
    lines = value.split("\n")
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    return textwrap.dedent("\n".join(lines[first:])).strip(), first


def _syntax_error(value: str, exc: SyntaxError, skipped: int, multi: bool) -> AssertionSpecError:
    where = f" (line {(exc.lineno or 1) + skipped} of the code)" if multi and exc.lineno \
        else ""
    return AssertionSpecError(
        f"python assertion {quote(value.strip(), 60)}: syntax error: "
        f"{exc.msg}{where}", key="value", hint=HINT)


def prepare(value: str, threshold: float) -> Inline:
    """Inline code compiled, or an AssertionSpecError saying what is wrong with it."""
    source, skipped = _source(value)
    if not source:
        raise AssertionSpecError("python assertion has no code", key="value", hint=HINT)
    multi = "\n" in source
    try:
        try:
            tree: ast.Expression | ast.Module = ast.parse(source, FILENAME, mode="eval")
            mode = "eval"
        except SyntaxError as first:
            try:
                body = ast.parse(source, FILENAME, mode="exec")
            except SyntaxError as exc:
                # one line: the expression's error says more ("invalid syntax" at
                # the operator, not at a missing statement)
                raise (exc if multi else first) from None
            tree, mode = _as_function(body), "body"
        code = compile(tree, FILENAME, "eval" if mode == "eval" else "exec",
                       dont_inherit=True)
    except SyntaxError as exc:
        raise _syntax_error(value, exc, skipped, multi) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # a NUL byte, too deep
        raise AssertionSpecError(f"python assertion {quote(value.strip(), 60)}: "
                                 f"cannot compile it: {type(exc).__name__}", key="value",
                                 hint=HINT) from None
    _check_names(value, tree)
    return Inline(source, mode, marshal.dumps(code), threshold)


GIVEN = frozenset({"output", "context", "json", "__name__", "__builtins__", *dir(builtins)})
_DYNAMIC = frozenset({"exec", "eval", "globals", "locals", "vars", "__builtins__"})


def _check_names(value: str, tree: ast.Expression | ast.Module) -> None:
    """A name the code reads that nothing gives it (a typo: `len(outptu)`, or a target
    without its function: `checks`) is an error now, not a NameError in every case.
    A name bound anywhere in the code counts (a superset of Python's scopes), and code
    that can bind names unseen (`exec`, `globals()`, `from x import *`) is not judged."""
    read: list[str] = []
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                read.append(node.id)
            else:
                bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return
                bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                               ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
            if node.name:  # a def's, a class's; `except E as NAME`, a match capture
                bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
    if _DYNAMIC.intersection(read):
        return
    missing = next((n for n in read if n not in bound and n not in GIVEN), None)
    if missing is None:
        return
    shown = quote(value.strip(), 60)
    body = tree.body if isinstance(tree, ast.Expression) else None
    while isinstance(body, ast.Attribute):
        body = body.value
    if isinstance(body, ast.Name):  # `checks`, `pkg.mod`: a target without `:function`
        raise AssertionSpecError(f"python assertion {shown} does not name a function",
                                 key="value", hint="write module:function or "
                                 "path/to/file.py:function, or code that reads output")
    near = difflib.get_close_matches(missing, ["output", "context", *sorted(bound)], n=1)
    raise AssertionSpecError(
        f"python assertion {shown}: name {quote(missing)} is not defined", key="value",
        hint=(f"did you mean {quote(near[0])}? " if near else "")
        + "inline code sees output, context, json and the builtins; import anything else")


def _as_function(body: ast.Module) -> ast.Module:
    """`def check(output, context): BODY` around the parsed body, its lines kept."""
    module = ast.parse("def check(output, context):\n    pass\n", FILENAME)
    func = module.body[0]
    assert isinstance(func, ast.FunctionDef)
    func.body = body.body or [ast.Pass()]  # only comments: returns None
    return ast.fix_missing_locations(module)


def vars_read(value: str) -> set[str] | None:
    """The case's vars inline code reads by name (`context["vars"]["city"]`,
    `context.vars.get("city")`, `"city" in context["test"]["vars"]`, ...), for lint's
    unused-variable warning; None when it may read any (the vars or the context
    handed on whole: `helper(context)`, `for k in context["vars"]`). Code that does
    not compile reads nothing (prepare has said why)."""
    source, _ = _source(value)
    try:
        tree: ast.AST = ast.parse(source, FILENAME, mode="eval")
    except SyntaxError:
        try:
            tree = ast.parse(source, FILENAME, mode="exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return set()
    except (ValueError, RecursionError, MemoryError):
        return set()
    parent: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parent[child] = node
    names: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Name) and node.id == "context"):
            continue
        inner = _member(node, parent)  # context["test"], context.vars, ...
        if inner is None:
            return None
        key, at = inner
        if key == "test":
            inner = _member(at, parent)
            if inner is None:
                return None
            key, at = inner
        if key != "vars":
            continue  # context["prompt"], ctx.model, context["test"]["description"]
        read = _member(at, parent, keys_only=True)
        if read is None:
            return None
        names.add(read[0])
    return names


def _member(node: ast.AST, parent: dict[ast.AST, ast.AST], *, keys_only: bool = False
            ) -> tuple[str, ast.AST] | None:
    """The constant key `node` is read with (`node["k"]`, `node.get("k")`, `"k" in
    node`; also `node.k` unless `keys_only`) and the expression that read it; None for
    any other use of `node`."""
    up = parent.get(node)
    if isinstance(up, ast.Subscript) and up.value is node and isinstance(up.ctx, ast.Load) \
            and isinstance(up.slice, ast.Constant) and isinstance(up.slice.value, str):
        return up.slice.value, up
    if isinstance(up, ast.Attribute) and up.value is node:
        call = parent.get(up)
        if up.attr == "get" and isinstance(call, ast.Call) and call.func is up \
                and call.args and isinstance(call.args[0], ast.Constant) \
                and isinstance(call.args[0].value, str):
            return call.args[0].value, call
        if not keys_only and isinstance(up.ctx, ast.Load):
            return up.attr, up
    if isinstance(up, ast.Compare) and len(up.ops) == 1 and up.comparators[0] is node \
            and isinstance(up.ops[0], (ast.In, ast.NotIn)) \
            and isinstance(up.left, ast.Constant) and isinstance(up.left.value, str):
        return up.left.value, up
    return None

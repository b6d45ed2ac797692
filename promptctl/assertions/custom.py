"""`python` assertions: a function in the user's project decides, or inline code.

    - {type: python, value: "checks:is_polite"}          # module checks.py at the root
    - {type: python, value: "tests/checks.py:is_polite"} # a file, relative to the root
    - {type: python, value: "len(output) < 80"}          # inline code (inline.py)

Which of the two a value is: inline.split_target (one line WHERE:NAME is a target,
anything else code; decided on the text alone). The function is called as fn(output,
ctx) (or fn(output) if it takes one argument) and returns a bool, a score in [0, 1]
(passes at `threshold`, default 0.5), a dict {pass, score, reason} (promptfoo's
GradingResult) or an AssertionResult; inline code's value is judged the same way.

ctx is both an object (`ctx.vars`, `ctx.prompt`: the prompt's id, ...) and, as
promptfoo passes it, a read-only mapping: `context["vars"]` (a view of the vars),
`context["prompt"]` (the rendered prompt: the one message's text, else the messages as
JSON), `context["test"]` ({vars, description, metadata}); `.get` works too.

Invariants:
- User code never runs in promptctl's process. Validation (`run`, `lint`) is static:
  the file or module is found, parsed with `ast`, and must define the function at
  module level (a def, a class, an import or an assignment of that name); a syntax
  error is reported at its own file:line. The call runs in a worker process
  (pool.py, pyworker.py) with a time limit (`limits.check_timeout`, or the
  assertion's `timeout:`); whatever it does there (raise, `sys.exit`, `os._exit`,
  crash, hang) is a failed assertion with a reason, never the end of the run.
- ctx in the worker has the data of AssertionContext (pyworker.Context); model access
  (`ctx.services`) does not cross the process boundary and is None there.
- `locate` is the one place that turns a value into a file. Either form must name a
  file of the project (`check_file`): it resolves, links followed, inside the
  project's boundary (boundary.py); a module must be the project's own file, not one
  found elsewhere on sys.path (`os:system` is refused).
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
import math
import os
import pickle
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..boundary import display_path, project_boundary, safe_path
from ..errors import UserError, quote
from ..results import AssertionResult
from . import inline
from .base import (
    AssertionContext,
    AssertionSpecError,
    Prepared,
    Types,
    fmt_num,
    kind_of,
)
from .inline import Inline

TYPES = Types()  # the types this module defines (builtins.py lists them)

DEFAULT_THRESHOLD = 0.5
_HINT = "write value: module:function (imported from the project root), " \
        "path/to/file.py:function or Python code (len(output) < 80)"


class Located:
    """Where a target's code is: a file to load by path (`file`, loaded under the
    module name `module`), or a module to import by name (`source`: its file, when
    there is one to read)."""

    __slots__ = ("file", "module", "root", "source")

    def __init__(self, module: str, file: Path | None, source: Path | None,
                 root: Path) -> None:
        self.module = module
        self.file = file
        self.source = source
        self.root = str(root)  # resolved: the worker puts it on its import path


class Target:
    __slots__ = ("checked", "function", "last", "module", "target", "threshold")

    def __init__(self, target: str, module: str, function: str, threshold: float) -> None:
        self.target = target
        self.module = module
        self.function = function
        self.threshold = threshold
        self.last: tuple[Path, Located] | None = None
        self.checked: set[tuple[str, int, int]] = set()  # (source, mtime, size) validated


def _prep_python(p: Prepared) -> Target | Inline:
    value = p.value
    if not isinstance(value, str):
        raise AssertionSpecError(f"'python' needs 'module:function' or code as 'value', "
                                 f"got {kind_of(value)}", key="value", hint=_HINT)
    threshold = DEFAULT_THRESHOLD if p.threshold is None else p.threshold
    target = inline.split_target(value)
    if target is None:
        return inline.prepare(value, threshold)
    return Target(value.strip(), target[0], target[1], threshold)


# --------------------------------------------------------------------------- locating


def is_path_form(module: str) -> bool:
    return module.endswith(".py") or "/" in module or "\\" in module


def check_file(target: str, module: str, root: Path) -> Path:
    """The resolved source file a python check names, path form (`x/y.py`, relative to
    the root) or module form (`pkg.mod`: ROOT/pkg/mod.py or ROOT/pkg/mod/__init__.py).
    It must resolve inside the project's boundary and be a regular file; else an
    AssertionSpecError naming the path as written and where it resolves."""
    boundary = project_boundary(root)
    if is_path_form(module):
        candidates = [(root / module, module)]
    else:
        parts = module.split(".")
        if not all(p.isidentifier() for p in parts):
            raise AssertionSpecError(f"python assertion {quote(target)}: {quote(module)} is not a "
                                     "module name", key="value", hint=_HINT)
        if parts[0] in sys.stdlib_module_names:
            raise AssertionSpecError(
                f"python assertion {quote(target)}: module {quote(module)} is Python's own, not a "
                "file of the project", key="value",
                hint="a project module must not share its name with a standard library "
                     "module: rename it, or write path/to/file.py:function")
        rel = "/".join(parts)
        # the order Python's finder uses: a package before a module of the same name
        candidates = [(root / rel / "__init__.py", f"{rel}/__init__.py"),
                      (root / f"{rel}.py", f"{rel}.py")]
    found = next(((p, w) for p, w in candidates if os.path.lexists(p)), None)
    real: Path | None = None
    if found is not None:
        try:
            real = safe_path(found[0], boundary, what="python check", written=found[1],
                             file=found[1])
        except UserError as exc:
            raise AssertionSpecError(f"python assertion {quote(target)}: {exc.message}",
                                     key="value", hint=exc.hint) from None
    if real is None or not real.is_file():
        if is_path_form(module):
            raise AssertionSpecError(f"python assertion {quote(target)}: no file {quote(module)} "
                                     f"under {root.resolve()}", key="value",
                                     hint="paths are relative to the project root")
        raise AssertionSpecError(
            f"python assertion {quote(target)}: cannot import module {quote(module)}: no "
            f"{candidates[-1][1]} in the project ({root.resolve()})", key="value",
            hint="python checks are the project's own code: a module file under the "
                 "project root, or path/to/file.py:function")
    return real


def locate(target: Target, root: Path) -> Located:
    """The file or module a target names, found without running anything: always a
    file of the project (`check_file`), never a module found elsewhere on sys.path."""
    root_dir = root.resolve()
    name = target.module
    path = check_file(target.target, name, root)
    if is_path_form(name):
        mod_name = "_promptctl_check_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
        return Located(mod_name, path, path, root_dir)
    return Located(name, None, path, root_dir)


# ------------------------------------------------------------------ static validation


_DEFINED: dict[tuple[str, int, int], tuple[dict[str, bool], bool]] = {}


def _defined_names(tree: ast.Module) -> tuple[dict[str, bool], bool]:
    """Module-level names -> "may be callable", and whether the module can define
    names no parser can see (`from x import *`, a module __getattr__)."""
    names: dict[str, bool] = {}
    dynamic = False

    def bind(name: str, callable_: bool) -> None:
        names[name] = names.get(name, False) or callable_

    def targets(node: ast.expr, callable_: bool) -> None:
        if isinstance(node, ast.Name):
            bind(node.id, callable_)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                targets(elt, True)
        elif isinstance(node, ast.Starred):
            targets(node.value, True)

    def literal(node: ast.expr | None) -> bool:  # a value no call can come out of
        return isinstance(node, (ast.Constant, ast.JoinedStr, ast.List, ast.Tuple,
                                 ast.Dict, ast.Set, ast.ListComp, ast.DictComp,
                                 ast.SetComp))

    def walk(body: list[ast.stmt]) -> None:
        nonlocal dynamic
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bind(node.name, True)
                if node.name == "__getattr__":
                    dynamic = True
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    targets(t, not literal(node.value))
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets(node.target, not literal(node.value))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    bind(alias.asname or alias.name.split(".")[0], True)
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name == "*":
                        dynamic = True
                    else:
                        bind(alias.asname or alias.name, True)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                targets(node.target, True)
                walk(node.body)
                walk(node.orelse)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars, True)
                walk(node.body)
            elif isinstance(node, (ast.If, ast.While)):
                walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
                walk(node.body)  # type: ignore[attr-defined]
                for handler in node.handlers:  # type: ignore[attr-defined]
                    walk(handler.body)
                walk(node.orelse)  # type: ignore[attr-defined]
                walk(node.finalbody)  # type: ignore[attr-defined]
            elif isinstance(node, ast.Match):
                for case in node.cases:
                    walk(case.body)
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.NamedExpr):
                targets(node.value.target, True)
    walk(tree.body)
    return names, dynamic


def _parse(source: Path, key: tuple[str, int, int]) -> tuple[dict[str, bool], bool]:
    found = _DEFINED.get(key)
    if found is not None:
        return found
    try:
        tree = ast.parse(source.read_bytes(), filename=str(source))
    except SyntaxError as exc:
        raise AssertionSpecError(f"syntax error: {exc.msg}",
                                 key="value", file=display_path(source),
                                 line=exc.lineno) from None
    except (OSError, ValueError) as exc:  # unreadable, or a NUL byte
        raise AssertionSpecError(f"cannot read {display_path(source)}: {exc}",
                                 key="value", file=display_path(source)) from None
    found = _defined_names(tree)
    if len(_DEFINED) > 1000:
        _DEFINED.clear()
    _DEFINED[key] = found
    return found


def _check_defines(target: Target, source: Path) -> None:
    try:
        stat = source.stat()
    except OSError:
        return
    key = (str(source), stat.st_mtime_ns, stat.st_size)
    if key in target.checked:
        return
    try:
        names, dynamic = ({}, False) if str(source) == os.devnull else _parse(source, key)
    except AssertionSpecError as exc:
        exc.message = f"python assertion {quote(target.target)}: {exc.message}"
        raise
    what = target.function
    if what in names:
        if not names[what]:
            raise AssertionSpecError(f"python assertion {quote(target.target)}: {quote(what)} is "
                                     "not a function", key="value")
    elif not dynamic:
        public = sorted(n for n, callable_ in names.items()
                        if callable_ and not n.startswith("_"))
        match = difflib.get_close_matches(what, public, n=1, cutoff=0.6)
        raise AssertionSpecError(
            f"python assertion {quote(target.target)}: module {quote(target.module)} has no "
            f"function {quote(what)}", key="value",
            hint=f"did you mean '{match[0]}'?" if match else
            ("functions there: " + ", ".join(public[:10])) if public else None)
    target.checked.add(key)


def _located(target: Target, root: Path) -> Located:
    """locate(), remembered for the last root (one per run, asked for per case)."""
    last = target.last
    if last is not None and (last[0] is root or last[0] == root):
        return last[1]
    located = locate(target, root)
    target.last = (root, located)
    return located


def _on_validate(target: Target | Inline, root: Path) -> None:
    """Static: nothing of the project's code runs in promptctl's process."""
    if isinstance(target, Inline):
        return  # compiled in prepare: it names no file
    located = _located(target, root)
    if located.source is not None:
        _check_defines(target, located.source)


# ---------------------------------------------------------------------------- verdict


class _Unusable:
    def __init__(self, what: str) -> None:
        self.what = what


def _decode(value: Any) -> Any:
    """The worker's account of the return value (pyworker._encode), checked."""
    if not isinstance(value, dict):
        return _Unusable("an unreadable value")
    kind = value.get("kind")
    if kind == "bool" and isinstance(value.get("value"), bool):
        return value["value"]
    if kind == "number" and isinstance(value.get("value"), (int, float)) \
            and not isinstance(value.get("value"), bool):
        return float(value["value"])
    if kind in ("dict", "result"):
        reason = value.get("reason")
        reason = reason if isinstance(reason, str) else None
        score = value.get("score")
        score = float(score) if isinstance(score, (int, float)) else None
        if kind == "result":
            passed = value.get("passed")
            return AssertionResult("python", bool(passed), 0.0 if score is None else score,
                                   reason or "")
        raw_pass = value.get("pass")
        out: dict[str, Any] = {"reason": reason}
        if isinstance(raw_pass, bool):
            out["pass"] = raw_pass
        if score is not None:
            out["score"] = score
        return out
    what = value.get("type")
    return _Unusable(what if isinstance(what, str) else "an unreadable value")


def _verdict(value: Any, target: Target | Inline
             ) -> tuple[bool | None, float, str, str | None]:
    """(passed, score, reason, negated reason); passed is None when the value is unusable."""
    who = target.target
    if isinstance(value, AssertionResult):
        score = _clamp(value.score)
        reason = value.reason or f"{who} {'passed' if value.passed else 'failed'}"
        return bool(value.passed), score, reason, None
    if isinstance(value, bool):
        return value, 1.0 if value else 0.0, f"{who} returned {value}", None
    limit = fmt_num(target.threshold)
    if isinstance(value, (int, float)):
        score = _clamp(value)
        if score >= target.threshold:
            return True, score, f"{who} scored {fmt_num(score)} (threshold {limit})", \
                f"{who} scored {fmt_num(score)}, must be below {limit}"
        return False, score, f"{who} scored {fmt_num(score)} < {limit}", \
            f"{who} scored {fmt_num(score)} (below {limit})"
    if isinstance(value, dict):
        raw_pass = value.get("pass", value.get("passed"))
        raw_score = value.get("score")
        if raw_pass is None and raw_score is None:
            return None, 0.0, f"{who} returned a dict without 'pass' or 'score'", None
        score = _clamp(raw_score) if raw_score is not None else (1.0 if raw_pass else 0.0)
        passed = bool(raw_pass) if raw_pass is not None else score >= target.threshold
        raw_reason = value.get("reason")
        reason = str(raw_reason) if raw_reason else f"{who} {'passed' if passed else 'failed'}" \
            + (f" (score {fmt_num(score)})" if raw_score is not None else "")
        return passed, score, reason, None
    what = value.what if isinstance(value, _Unusable) else type(value).__name__
    body = isinstance(target, Inline) and target.mode == "body"
    return (None, 0.0, f"{who} returned {what}: expected a bool, a score, "
            "a dict {pass, score, reason} or an AssertionResult"
            + (" (a body must `return` its verdict)" if body else ""), None)


def _clamp(value: Any) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(score) else min(1.0, max(0.0, score))  # NaN fails


# ---------------------------------------------------------------------------- calling


def _plain(value: Any) -> Any:
    """The case's data as builtins, so that it pickles whatever view a case keeps."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _ctx(ctx: AssertionContext) -> dict[str, Any]:
    """ctx's data for the worker: its attributes (as they always were), and what the
    promptfoo-style mapping adds (pyworker.Context)."""
    messages = [dict(m) for m in ctx.messages]
    if not messages or (len(messages) == 1 and isinstance(messages[0].get("content"), str)):
        rendered = messages[0]["content"] if messages else ""
    else:  # a chat prompt: its messages, as promptfoo gives a chat prompt's text
        rendered = json.dumps(messages, ensure_ascii=False, default=str)
    return {
        "attrs": {"vars": _plain(ctx.vars), "messages": messages, "prompt": ctx.prompt,
                  "model": ctx.model, "latency_ms": ctx.latency_ms,
                  "prompt_tokens": ctx.prompt_tokens,
                  "completion_tokens": ctx.completion_tokens, "cost": ctx.cost,
                  "token_logprobs": list(ctx.token_logprobs)
                  if ctx.token_logprobs is not None else None,
                  "check_timeout": ctx.check_timeout},
        "prompt": rendered, "description": ctx.description,
        "metadata": _plain(ctx.metadata),
    }


def _request(output: str, target: Target, located: Located,
             ctx: AssertionContext) -> dict[str, Any]:
    return {
        "target": target.target, "root": located.root,
        "file": str(located.file) if located.file is not None else None,
        "module": located.module, "function": target.function, "output": output,
        "ctx": _ctx(ctx),
    }


def _inline_request(output: str, code: Inline, ctx: AssertionContext) -> dict[str, Any]:
    last = code.root  # the root resolved, remembered for the last one (one per run)
    if last is None or last[0] != ctx.root:
        last = code.root = (ctx.root, str(Path(ctx.root).resolve()))
    return {"target": code.target, "root": last[1], "code": code.code, "mode": code.mode,
            "output": output, "ctx": _ctx(ctx)}


@TYPES.add("python", prepare=_prep_python, scored=True, default_threshold=DEFAULT_THRESHOLD,
          on_validate=_on_validate, bounds_itself=True,
          value_hint="value: module:function, path/to/file.py:function (the function "
                     "gets (output, ctx)) or Python code (len(output) < 80)")
def _python(output: str, target: Target | Inline, ctx: AssertionContext) -> Any:
    from . import pool  # the worker processes: started on the first python check

    try:
        if isinstance(target, Inline):
            request = _inline_request(output, target, ctx)
        else:
            try:
                located = _located(target, ctx.root)
            except AssertionSpecError as exc:
                return None, 0.0, exc.message, exc.message
            request = _request(output, target, located, ctx)
        answer = pool.call(request, ctx.check_timeout)
    except pool.CallFailed as exc:
        return None, 0.0, exc.reason, exc.reason
    except (TypeError, ValueError, AttributeError, RecursionError,
            pickle.PicklingError) as exc:
        reason = f"python assertion: the case's data cannot be sent to the check " \
                 f"({type(exc).__name__}: {exc})"
        return None, 0.0, reason, reason
    if not answer["ok"]:
        return None, 0.0, answer["reason"], answer["reason"]
    passed, score, reason, neg = _verdict(_decode(answer.get("value")), target)
    if passed is None:
        return None, 0.0, reason, reason
    if neg is None:
        neg = f"{reason} (must not)" if passed else f"{reason}: failed, as required"
    return passed, score, reason, neg

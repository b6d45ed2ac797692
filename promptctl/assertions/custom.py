"""`python` assertions: a function in the user's project decides.

    - {type: python, value: "checks:is_polite"}          # module checks.py at the root
    - {type: python, value: "tests/checks.py:is_polite"} # a file, relative to the root

The function is called as fn(output, ctx) (or fn(output) if it takes one argument) and
returns a bool, a score in [0, 1] (passes at `threshold`, default 0.5), a dict
{pass, score, reason} or an AssertionResult. Whatever it raises becomes a failed result.

Either form must name a file of the project (`check_file`): it resolves, links
followed, inside the project's boundary (boundary.py); a module must be the project's
own file, not one found elsewhere on sys.path (`os:system` is refused).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..results import AssertionResult
from .base import (
    AssertionContext,
    AssertionSpecError,
    Prepared,
    exc_text,
    fmt_num,
    kind_of,
)
from .registry import register

DEFAULT_THRESHOLD = 0.5
_HINT = "write value: module:function (imported from the project root) or " \
        "path/to/file.py:function"

_LOCK = threading.Lock()
_ON_PATH: set[str] = set()
_RESOLVED: dict[tuple[str, str], Callable[[str, AssertionContext], Any]] = {}


class Target:
    __slots__ = ("function", "last", "module", "target", "threshold")

    def __init__(self, target: str, module: str, function: str, threshold: float) -> None:
        self.target = target
        self.module = module
        self.function = function
        self.threshold = threshold
        self.last: tuple[Path, Callable[[str, AssertionContext], Any]] | None = None


def _prep_python(p: Prepared) -> Target:
    value = p.value
    if not isinstance(value, str):
        raise AssertionSpecError(f"'python' needs 'module:function' as 'value', got "
                                 f"{kind_of(value)}", key="value", hint=_HINT)
    module, sep, function = value.strip().rpartition(":")
    if not sep or not module or not function.isidentifier():
        raise AssertionSpecError(f"python assertion {value!r} does not name a function",
                                 key="value", hint=_HINT)
    threshold = DEFAULT_THRESHOLD if p.threshold is None else p.threshold
    return Target(value.strip(), module, function, threshold)


def _add_to_path(directory: str) -> None:
    with _LOCK:
        if directory not in _ON_PATH:
            _ON_PATH.add(directory)
            if directory not in sys.path:
                sys.path.insert(0, directory)


def is_path_form(module: str) -> bool:
    return module.endswith(".py") or "/" in module or "\\" in module


def check_file(target: str, module: str, root: Path) -> Path:
    """The resolved source file a python check names, path form (`x/y.py`, relative to
    the root) or module form (`pkg.mod`: ROOT/pkg/mod.py or ROOT/pkg/mod/__init__.py).
    It must resolve inside the project's boundary and be a regular file; else an
    AssertionSpecError naming the path as written and where it resolves."""
    from ..boundary import project_boundary, safe_path
    from ..errors import UserError

    boundary = project_boundary(root)
    if is_path_form(module):
        candidates = [(root / module, module)]
    else:
        parts = module.split(".")
        if not all(p.isidentifier() for p in parts):
            raise AssertionSpecError(f"python assertion {target!r}: {module!r} is not a "
                                     "module name", key="value", hint=_HINT)
        if parts[0] in sys.stdlib_module_names:
            raise AssertionSpecError(
                f"python assertion {target!r}: module {module!r} is Python's own, not a "
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
            raise AssertionSpecError(f"python assertion {target!r}: {exc.message}",
                                     key="value", hint=exc.hint) from None
    if real is None or not real.is_file():
        if is_path_form(module):
            raise AssertionSpecError(f"python assertion {target!r}: no file {module!r} "
                                     f"under {root.resolve()}", key="value",
                                     hint="paths are relative to the project root")
        raise AssertionSpecError(
            f"python assertion {target!r}: cannot import module {module!r}: no "
            f"{candidates[-1][1]} in the project ({root.resolve()})", key="value",
            hint="python checks are the project's own code: a module file under the "
                 "project root, or path/to/file.py:function")
    return real


def _load_module(target: Target, root: Path) -> Any:
    root_dir = str(root.resolve())
    _add_to_path(root_dir)
    name = target.module
    try:
        source = check_file(target.target, name, root)
        if is_path_form(name):
            path = source
            import hashlib

            mod_name = "_promptctl_check_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
            module = sys.modules.get(mod_name)
            if module is None:
                spec = importlib.util.spec_from_file_location(mod_name, path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {path}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[mod_name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[mod_name]
                    raise
            return module
        module = importlib.import_module(name)
        loaded = getattr(module, "__file__", None)
        if loaded is None or os.path.realpath(loaded) != str(source):
            raise AssertionSpecError(
                f"python assertion {target.target!r}: module {name!r} is not the "
                f"project's {source.name}: it resolves to {loaded or 'a built-in module'}",
                key="value", hint="rename the project's module so that it does not "
                                  "shadow an installed one, or write path/to/file.py:function")
        return module
    except AssertionSpecError:
        raise
    except ModuleNotFoundError as exc:
        raise AssertionSpecError(f"python assertion {target.target!r}: cannot import "
                                 f"module {name!r}: {exc}", key="value",
                                 hint=f"modules are imported from the project root "
                                      f"({root_dir}); or write path/to/file.py:function"
                                 ) from None
    except Exception as exc:
        raise AssertionSpecError(f"python assertion {target.target!r}: importing {name!r} "
                                 f"raised {exc_text(exc)}", key="value") from None


def _resolve(target: Target, root: Path) -> Callable[[str, AssertionContext], Any]:
    key = (str(root), target.target)
    fn = _RESOLVED.get(key)
    if fn is not None:
        return fn
    module = _load_module(target, root)
    obj = getattr(module, target.function, None)
    if obj is None:
        public = [n for n in dir(module) if not n.startswith("_")
                  and callable(getattr(module, n, None))]
        match = difflib.get_close_matches(target.function, public, n=1, cutoff=0.6)
        raise AssertionSpecError(
            f"python assertion {target.target!r}: module {target.module!r} has no "
            f"function {target.function!r}", key="value",
            hint=f"did you mean '{match[0]}'?" if match else
            ("functions there: " + ", ".join(public[:10])) if public else None)
    if not callable(obj):
        raise AssertionSpecError(f"python assertion {target.target!r}: "
                                 f"{target.function!r} is not a function", key="value")
    fn = _adapt(obj)
    _RESOLVED[key] = fn
    return fn


def _adapt(obj: Callable[..., Any]) -> Callable[[str, AssertionContext], Any]:
    """Call fn(output) when the function takes a single argument, else fn(output, ctx)."""
    try:
        params = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return obj
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) == 1 and not any(p.kind == p.VAR_POSITIONAL for p in params):
        return lambda output, ctx: obj(output)
    return obj


def _on_validate(target: Target, root: Path) -> None:
    _resolve(target, root)


def _verdict(value: Any, target: Target) -> tuple[bool | None, float, str, str | None]:
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
    return (None, 0.0, f"{who} returned {type(value).__name__}: expected a bool, a score, "
            "a dict {pass, score, reason} or an AssertionResult", None)


def _clamp(value: Any) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if score != score else min(1.0, max(0.0, score))  # NaN fails


@register("python", prepare=_prep_python, scored=True, default_threshold=DEFAULT_THRESHOLD,
          on_validate=_on_validate,
          value_hint="value: module:function or path/to/file.py:function; the function "
                     "gets (output, ctx)")
def _python(output: str, target: Target, ctx: AssertionContext) -> Any:
    last = target.last
    if last is not None and last[0] is ctx.root:
        fn = last[1]
    else:
        try:
            fn = _resolve(target, ctx.root)
        except AssertionSpecError as exc:
            return None, 0.0, exc.message, exc.message
        target.last = (ctx.root, fn)
    try:
        value = fn(output, ctx)
    except Exception as exc:
        reason = f"python assertion raised {exc_text(exc)}"
        return None, 0.0, reason, reason
    passed, score, reason, neg = _verdict(value, target)
    if passed is None:
        return None, 0.0, reason, reason
    if neg is None:
        neg = f"{reason} (must not)" if passed else f"{reason}: failed, as required"
    return passed, score, reason, neg

"""The assertion registry: type name -> check, plus validation, caching and evaluation.

A check is registered with `register(name, options=..., prepare=...)`:

- `prepare(p: Prepared) -> arg` runs once per distinct assertion at validate time; it
  checks the value and options (raising `AssertionSpecError`) and returns whatever the
  check needs, precompiled (a regex, a JSON schema validator, a resolved function).
- `check(output, arg, ctx)` runs per model output. It returns a 4-tuple
  `(passed, score, reason, negated_reason)` (the fast path used by every built-in;
  passed=None means the check could not run and fails even under `not-`), a
  3-tuple without the negated reason, a bool, a float score (compared with the
  threshold), a dict `{pass, score, reason}` or an `AssertionResult`.

`evaluate` looks a spec's compiled plan up by identity, so the per-output cost is one dict
lookup, the optional transform, and the check itself.

Every check ends in bounded time and never ends the run: past its time limit (the
assertion's `timeout:`, else ctx.check_timeout, i.e. `limits.check_timeout`) it fails
with "timed out after N s", and whatever it raises, BaseExceptions such as SystemExit
included, is a failed result (promptctl.contain). In-process checks are interrupted
by promptctl.contain.bounded; the types that bound themselves (`python`, which runs in
a worker process, and the model-graded ones, bounded by their provider's timeout) get
the limit through ctx.check_timeout. Only a real Ctrl-C and InfraError (no verdict)
propagate.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .. import contain
from ..errors import InfraError, PromptctlError, quote
from ..results import AssertionResult
from ..schema import AssertionSpec
from .base import (
    NEGATION,
    AssertionContext,
    AssertionSpecError,
    Check,
    Entry,
    Prepare,
    Prepared,
    exc_text,
    fmt_num,
    make_entry,
    suggest,
    to_text,
)
from .builtins import BUILTINS
from .transforms import compile_transform

__all__ = ["AssertionContext", "AssertionSpecError", "Prepared", "evaluate", "names",
           "register", "runs_inline", "shares_inputs", "validate_spec"]

COMMON_KEYS = ("type", "value", "threshold", "weight", "metric", "transform", "max_drop",
               "timeout", "turn")
_CACHE_LIMIT = 50_000


_REGISTRY: dict[str, Entry] = {}


def register(
    name: str,
    *,
    options: Iterable[str] = (),
    needs_value: bool = True,
    takes_value: bool = True,
    prepare: Prepare | None = None,
    scored: bool = False,
    default_threshold: float | None = None,
    value_hint: str | None = None,
    on_validate: Callable[[Any, Path], None] | None = None,
    inline: bool | None = None,
    bounds_itself: bool | None = None,
) -> Callable[[Check], Check]:
    """Register a check under `name` (a later registration replaces an earlier one):
    how a plugin adds a type. The options are those of `Types.add` (base.py). A
    built-in's name is refused (ValueError): the built-ins are not replaceable."""
    if name in BUILTINS:
        raise ValueError(f"'{name}' is a built-in assertion type: a plugin cannot "
                         "replace it")

    def decorator(fn: Check) -> Check:
        _add(make_entry(name, fn, options=options, needs_value=needs_value,
                        takes_value=takes_value, prepare=prepare, scored=scored,
                        default_threshold=default_threshold, value_hint=value_hint,
                        on_validate=on_validate, inline=inline,
                        bounds_itself=bounds_itself))
        return fn

    return decorator


def _add(entry: Entry) -> None:
    _REGISTRY[entry.name] = entry
    _PLANS_BY_ID.clear()
    _PLANS_BY_CONTENT.clear()


ENTRY_POINT_GROUP = "promptctl.assertions"


def names() -> list[str]:
    """Every assertion type: built-in, registered, or offered by an installed plugin
    (each also usable with a `not-` prefix)."""
    return sorted({*BUILTINS, *_REGISTRY, *_plugins()})


def _entry(name: str) -> Entry | None:
    """The check of a type: registered already, else built in (its module imported
    now), else a plugin's (loaded now); None if nothing defines it."""
    entry = _REGISTRY.get(name)
    if entry is not None:
        return entry
    module = BUILTINS.get(name)
    if module is not None:
        defined = importlib.import_module(f"{__package__}.{module}").TYPES
        for entry in defined.values():
            _REGISTRY.setdefault(entry.name, entry)
        return _REGISTRY[name]
    target = _plugins().get(name)
    if target is None:
        return None
    fn = _load_plugin(name, target)
    if name not in _REGISTRY:  # its module did not register it: plain defaults
        _add(make_entry(name, fn, needs_value=False))
    return _REGISTRY[name]


@functools.lru_cache(maxsize=1)
def _plugins() -> dict[str, str]:
    """Plugins' types: entry points `type-name = "package.module:check"` in the group
    promptctl.assertions. A built-in name is not theirs to take."""
    # deferred: the installed packages' metadata only for a type that is not built in
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)
            if ep.name not in BUILTINS and not ep.name.startswith(NEGATION)}


def _load_plugin(name: str, target: str) -> Check:
    """Import a plugin's check. Whatever its import raises (SystemExit too) is an
    error of the environment, exit 3, naming it; only a real Ctrl-C passes."""
    module_name, _, attr = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except BaseException as exc:
        if contain.escapes(exc) or isinstance(exc, PromptctlError):
            raise
        raise InfraError(f"assertion type '{name}' ({target}): importing it "
                         f"{contain.describe(exc)}",
                         hint="fix or uninstall the plugin (pip show -f the package that "
                              "provides it)") from None
    if not callable(fn):
        raise InfraError(f"assertion type '{name}' ({target}) is not a function",
                         hint="the entry point must name the check: module:function")
    return fn


# ------------------------------------------------------------------------------ plans


class Plan:
    """One assertion compiled: everything `evaluate` needs, nothing recomputed."""

    __slots__ = ("arg", "bounds_itself", "check", "entry", "foreign", "metric", "negated",
                 "spec_type", "threshold", "timeout", "transform", "transform_src", "weight")

    def __init__(self, spec: AssertionSpec, entry: Entry, negated: bool, arg: Any,
                 threshold: float | None) -> None:
        self.spec_type = spec.type
        self.entry = entry
        self.check = entry.check
        self.negated = negated
        self.arg = arg
        self.threshold = threshold
        self.weight = spec.weight
        self.metric = spec.metric
        self.transform_src = spec.transform
        self.transform = compile_transform(spec.transform) if spec.transform else None
        self.timeout = spec.timeout
        self.bounds_itself = entry.bounds_itself
        # code that is not promptctl's, run in promptctl's process (see shares_inputs)
        self.foreign = not entry.check.__module__.startswith(f"{__package__}.")

    def fail(self, reason: str) -> AssertionResult:
        return AssertionResult(self.spec_type, False, 0.0, reason, self.weight, self.metric)

    def run(self, output: str, ctx: AssertionContext) -> AssertionResult:
        if self.bounds_itself:
            if self.timeout is not None and self.timeout != ctx.check_timeout:
                ctx = dataclasses.replace(ctx, check_timeout=self.timeout)
            return self._run(output, ctx)
        seconds = self.timeout or ctx.check_timeout
        timed_out, result = contain.bounded(self._run, (output, ctx), seconds)
        if timed_out or result is None:
            return self.fail(f"{self.entry.name} check timed out after "
                             f"{fmt_num(seconds)} s")
        return result

    def _run(self, output: str, ctx: AssertionContext) -> AssertionResult:
        if not isinstance(output, str):
            output = "" if output is None else to_text(output)
        text = output
        if self.transform is not None:
            try:
                text = self.transform(text, ctx)
            except BaseException as exc:
                if contain.escapes(exc):
                    raise
                return self.fail(f"transform {quote(self.transform_src)} failed: {exc_text(exc)}")
        try:
            verdict = self.check(text, self.arg, ctx)
        except InfraError:
            raise  # a judge or embedder failed: no verdict, not a failed assertion
        except BaseException as exc:  # user code (a plugin's type, a judge's provider)
            if contain.escapes(exc):
                raise
            how = f"raised {exc_text(exc)}" if isinstance(exc, Exception) \
                else contain.describe(exc)
            return self.fail(f"{self.entry.name} check {how}")
        if type(verdict) is tuple and len(verdict) == 4:
            passed, score, reason, neg_reason = verdict
            if passed is None:  # the check could not run: a failure, negated or not
                return self.fail(reason)
        else:
            try:
                passed, score, reason, neg_reason = _normalize(verdict, self.threshold)
            except (TypeError, ValueError) as exc:
                return self.fail(f"{self.entry.name} check {exc}")
            except BaseException as exc:  # a returned object's own methods raised
                if contain.escapes(exc):
                    raise
                return self.fail(f"{self.entry.name} check returned a value that "
                                 f"{contain.describe(exc)}")
        if self.negated:
            if neg_reason is None:
                neg_reason = f"{reason} (must not)" if passed else f"negated: {reason}"
            return AssertionResult(self.spec_type, not passed, 1.0 - score, neg_reason,
                                   self.weight, self.metric)
        return AssertionResult(self.spec_type, passed, score, reason, self.weight, self.metric)


def _score(value: Any) -> float:
    score = float(value)
    if math.isnan(score):
        return 0.0
    return min(1.0, max(0.0, score))


def _normalize(verdict: Any, threshold: float | None) -> tuple[bool, float, str, str | None]:
    """Any supported check return value as (passed, score, reason, negated_reason)."""
    if isinstance(verdict, AssertionResult):
        return bool(verdict.passed), _score(verdict.score), verdict.reason, None
    if isinstance(verdict, bool):
        return verdict, 1.0 if verdict else 0.0, "passed" if verdict else "failed", None
    limit = 0.5 if threshold is None else threshold
    if isinstance(verdict, (int, float)):
        score = _score(verdict)
        passed = score >= limit
        return passed, score, f"score {fmt_num(score)} {'>=' if passed else '<'} " \
                              f"{fmt_num(limit)}", None
    if isinstance(verdict, tuple) and len(verdict) == 3:
        passed, score, reason = verdict
        return bool(passed), _score(score), str(reason), None
    if isinstance(verdict, dict):
        raw_pass = verdict.get("pass", verdict.get("passed"))
        if "score" in verdict and verdict["score"] is not None:
            score = _score(verdict["score"])
            passed = bool(raw_pass) if raw_pass is not None else score >= limit
        elif raw_pass is not None:
            passed = bool(raw_pass)
            score = 1.0 if passed else 0.0
        else:
            raise TypeError("returned a dict without 'pass' or 'score'")
        reason = verdict.get("reason") or (f"score {fmt_num(score)}" if "score" in verdict
                                           else ("passed" if passed else "failed"))
        return passed, score, str(reason), None
    raise TypeError(f"returned {type(verdict).__name__}: expected a bool, a score, "
                    "a dict {pass, score, reason} or an AssertionResult")


def _lookup(type_name: str) -> tuple[Entry, bool]:
    negated = type_name.startswith(NEGATION)
    base = type_name[len(NEGATION):] if negated else type_name
    entry = _entry(base)
    if entry is None:
        known = names()
        hint = suggest(base, known) or suggest(base.lower(), known)
        if hint and negated:
            hint = hint.replace("'", f"'{NEGATION}", 1)
        raise AssertionSpecError(
            f"unknown assertion type '{type_name}'", key="type",
            hint=hint or "known types: " + ", ".join(names())
            + f" (each also with a '{NEGATION}' prefix)")
    return entry, negated


def _check_common(spec: AssertionSpec, entry: Entry) -> float | None:
    name = entry.name
    options = spec.options
    for key in options:
        if key not in entry.options:
            allowed = [o for o in entry.options if o != "threshold"]
            hint = suggest(key, [*allowed, *COMMON_KEYS])
            takes = (f"{name} takes: " + ", ".join(allowed)) if allowed \
                else f"{name} takes no options"
            raise AssertionSpecError(f"unknown option '{key}' for {name}", key=key,
                                     hint=f"{hint} {takes}" if hint else takes)
    if spec.value is None and entry.needs_value:
        raise AssertionSpecError(f"'{name}' needs a 'value'",
                                 hint=entry.value_hint or "add 'value:' to the assertion")
    if spec.value is not None and not entry.takes_value:
        raise AssertionSpecError(f"'{name}' takes no 'value'", key="value",
                                 hint=entry.value_hint or "remove 'value'")
    threshold = spec.threshold
    if threshold is not None and "threshold" not in entry.options:
        if not entry.scored:
            raise AssertionSpecError(
                f"'{name}' is pass/fail: 'threshold' does not apply", key="threshold",
                hint="remove it (thresholds apply to scored types such as levenshtein, "
                     "contains-all and python)")
        if not 0.0 <= threshold <= 1.0 or math.isnan(threshold):
            raise AssertionSpecError(f"threshold must be between 0 and 1, got {threshold}",
                                     key="threshold", hint="a score threshold, e.g. 0.8")
    if threshold is None and entry.scored:
        threshold = entry.default_threshold
    return threshold


def _compile(spec: AssertionSpec) -> Plan:
    entry, negated = _lookup(spec.type)
    threshold = _check_common(spec, entry)
    prepared = Prepared(entry.name, spec.value, spec.options,
                        threshold if entry.scored else spec.threshold)
    arg = entry.prepare(prepared) if entry.prepare is not None else prepared
    return Plan(spec, entry, negated, arg, threshold)


_PLANS_BY_ID: dict[int, tuple[AssertionSpec, Plan]] = {}
_PLANS_BY_CONTENT: dict[str, Plan] = {}


def _content_key(spec: AssertionSpec) -> str:
    data = spec.model_dump()
    try:
        return json.dumps(data, sort_keys=True, default=repr)
    except (TypeError, ValueError):  # keys of mixed types cannot be sorted
        return repr(data)


def _plan(spec: AssertionSpec) -> Plan:
    hit = _PLANS_BY_ID.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    key = _content_key(spec)
    plan = _PLANS_BY_CONTENT.get(key)
    if plan is None:
        plan = _compile(spec)
        if len(_PLANS_BY_CONTENT) >= _CACHE_LIMIT:
            _PLANS_BY_CONTENT.clear()
        _PLANS_BY_CONTENT[key] = plan
    if len(_PLANS_BY_ID) >= _CACHE_LIMIT:
        _PLANS_BY_ID.clear()
    _PLANS_BY_ID[id(spec)] = (spec, plan)  # holding the spec keeps its id from being reused
    return plan


def validate_spec(spec: AssertionSpec, *, root: Path | None = None) -> None:
    """Raise AssertionSpecError if the assertion is wrong; compile and cache it.

    root: the project root, for checks that resolve files or modules (python); the
    working directory when not given.
    """
    plan = _plan(spec)
    if plan.entry.on_validate is not None:
        plan.entry.on_validate(plan.arg, root if root is not None else Path.cwd())


def _known(spec: AssertionSpec) -> Plan:
    """The spec's plan: the lookup by identity inline, the rest in `_plan`."""
    hit = _PLANS_BY_ID.get(id(spec))
    return hit[1] if hit is not None and hit[0] is spec else _plan(spec)


def runs_inline(specs: Iterable[AssertionSpec]) -> bool:
    """Can every one of these checks run on the event loop (see `register`)?"""
    return all(_known(spec).entry.inline for spec in specs)


def shares_inputs(specs: Iterable[AssertionSpec]) -> bool:
    """Does any of these checks run code that is not promptctl's in promptctl's process
    (a type a plugin registered)? Such code may change what it is given, so it gets
    copies of the case's vars and messages. The built-ins only read, and a `python`
    check gets its copy by crossing to its worker process."""
    return any(_known(spec).foreign for spec in specs)


def evaluate(spec: AssertionSpec, output: str, ctx: AssertionContext) -> AssertionResult:
    """Check one output. A failing check (or a check, transform or user function that
    raises) is a failed result, never an exception; only a spec that `validate_spec`
    would reject raises AssertionSpecError."""
    return _known(spec).run(output, ctx)

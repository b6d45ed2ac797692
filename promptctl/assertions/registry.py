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
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import contain
from ..errors import InfraError, quote
from ..results import AssertionResult
from ..schema import AssertionSpec
from .base import (
    AssertionContext,
    AssertionSpecError,
    Prepared,
    exc_text,
    fmt_num,
    suggest,
    to_text,
)
from .transforms import compile_transform

__all__ = ["AssertionContext", "AssertionSpecError", "Prepared", "evaluate", "names",
           "register", "runs_inline", "shares_inputs", "validate_spec"]

NEGATION = "not-"
COMMON_KEYS = ("type", "value", "threshold", "weight", "metric", "transform", "max_drop",
               "timeout")
_CACHE_LIMIT = 50_000


Check = Callable[[str, Any, AssertionContext], Any]
Prepare = Callable[[Prepared], Any]


@dataclass(frozen=True)
class Entry:
    name: str
    check: Check
    options: tuple[str, ...]
    needs_value: bool
    takes_value: bool
    prepare: Prepare | None
    scored: bool
    default_threshold: float | None
    value_hint: str | None
    on_validate: Callable[[Any, Path], None] | None
    inline: bool  # quick and self-contained: may run on the engine's event loop
    bounds_itself: bool  # enforces ctx.check_timeout itself: not interrupted in-process


# Built-in checks that only compute on the output: no model, no user code, no waiting.
# Everything else (similar, the judges, python, plugins' types unless they say so)
# is scored in a worker thread when its call came from the async engine.
_INLINE_MODULES = {f"{__package__}.{m}"
                   for m in ("text", "structured", "metrics", "safety", "usage")}
# Model-graded checks wait on a provider, which has its own timeout: interrupting them
# in the middle of an HTTP client's or a model's code could leave it broken.
_MODEL_MODULES = {f"{__package__}.{m}" for m in ("models", "judges")}


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
    """Register a check under `name` (a later registration replaces an earlier one).

    options: the extra keys it accepts (`threshold` in there means the check reads the
    threshold itself, with its own meaning). scored: the check returns a score in [0, 1]
    that passes at `threshold` (default `default_threshold`).
    on_validate(arg, root): extra checks that need the project root (`validate_spec`).
    inline: the check is quick and never blocks (no model, no I/O), so the async engine
    may run it on its event loop; by default only the pure built-ins are.
    bounds_itself: the check keeps to ctx.check_timeout on its own, so it is not
    interrupted from outside (by default: the model-graded built-ins).
    """
    if name.startswith(NEGATION):
        raise ValueError(f"assertion type names cannot start with {NEGATION!r}")

    def decorator(fn: Check) -> Check:
        _REGISTRY[name] = Entry(
            name=name, check=fn, options=tuple(options), needs_value=needs_value,
            takes_value=takes_value or needs_value, prepare=prepare, scored=scored,
            default_threshold=default_threshold, value_hint=value_hint,
            on_validate=on_validate,
            inline=fn.__module__ in _INLINE_MODULES if inline is None else inline,
            bounds_itself=fn.__module__ in _MODEL_MODULES if bounds_itself is None
            else bounds_itself)
        _PLANS_BY_ID.clear()
        _PLANS_BY_CONTENT.clear()
        return fn

    return decorator


def names() -> list[str]:
    """Registered assertion types (each also usable with a `not-` prefix)."""
    return sorted(_REGISTRY)


# ------------------------------------------------------------------------------ plans


class Plan:
    """One assertion compiled: everything `evaluate` needs, nothing recomputed."""

    __slots__ = ("arg", "check", "entry", "metric", "negated", "spec_type", "threshold",
                 "timeout", "transform", "transform_src", "weight")

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

    def fail(self, reason: str) -> AssertionResult:
        return AssertionResult(self.spec_type, False, 0.0, reason, self.weight, self.metric)

    def run(self, output: str, ctx: AssertionContext) -> AssertionResult:
        if self.entry.bounds_itself:
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
    entry = _REGISTRY.get(base)
    if entry is None:
        hint = suggest(base, _REGISTRY) or suggest(base.lower(), _REGISTRY)
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


def runs_inline(specs: Iterable[AssertionSpec]) -> bool:
    """Can every one of these checks run on the event loop (see `register`)?"""
    return all(_plan(spec).entry.inline for spec in specs)


def shares_inputs(specs: Iterable[AssertionSpec]) -> bool:
    """Does any of these checks run code that is not promptctl's in promptctl's process
    (a type a plugin registered)? Such code may change what it is given, so it gets
    copies of the case's vars and messages. The built-ins only read, and a `python`
    check gets its copy by crossing to its worker process."""
    return any(not _plan(spec).entry.check.__module__.startswith(f"{__package__}.")
               for spec in specs)


def evaluate(spec: AssertionSpec, output: str, ctx: AssertionContext) -> AssertionResult:
    """Check one output. A failing check (or a check, transform or user function that
    raises) is a failed result, never an exception; only a spec that `validate_spec`
    would reject raises AssertionSpecError."""
    hit = _PLANS_BY_ID.get(id(spec))
    plan = hit[1] if hit is not None and hit[0] is spec else _plan(spec)
    return plan.run(output, ctx)


def _load_builtins() -> None:
    """The built-in types register themselves when their modules are imported."""
    from . import custom, judges, metrics, models, safety, structured, text, usage  # noqa: F401


_load_builtins()

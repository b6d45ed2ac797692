"""Checks on how the output was produced rather than what it says: latency, tokens, cost."""

from __future__ import annotations

from typing import Any

from .base import AssertionContext, AssertionSpecError, Prepared, Types, fmt_num, kind_of

TYPES = Types()  # the types this module defines (builtins.py lists them)


def _limit(p: Prepared, key: str) -> float | None:
    value = p.options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise AssertionSpecError(f"'{key}' must be a number >= 0, got {kind_of(value)}",
                                 key=key)
    return value


def _one_limit(p: Prepared, key: str, unit: str) -> float:
    """`key: N` or, as in promptfoo, `threshold: N`: one of the two."""
    limit = _limit(p, key)
    if p.threshold is not None:
        if limit is not None:
            raise AssertionSpecError(f"give either '{key}' or 'threshold', not both",
                                     key="threshold")
        if p.threshold < 0:
            raise AssertionSpecError(f"'threshold' must be >= 0 {unit}, got {p.threshold}",
                                     key="threshold")
        return p.threshold
    if limit is None:
        raise AssertionSpecError(f"'{p.name}' needs '{key}'", hint=f"e.g. {key}: "
                                 f"{'2000' if unit == 'ms' else '0.01'} ({unit})")
    return limit


@TYPES.add("latency", options=("max_ms", "threshold"), needs_value=False, takes_value=False,
          prepare=lambda p: _one_limit(p, "max_ms", "ms"),
          value_hint="use max_ms: N (milliseconds)")
def _latency(output: str, max_ms: float, ctx: AssertionContext) -> Any:
    return _at_most(f"latency {ctx.latency_ms:.0f} ms", fmt_num(max_ms),
                    ctx.latency_ms <= max_ms)


def _at_most(measured: str, limit: str, ok: bool) -> tuple[bool, float, str, str]:
    """(passed, score, reason, reason when negated) for a measure under a limit."""
    if ok:
        return True, 1.0, f"{measured} (max {limit})", f"{measured}, must be over {limit}"
    return False, 0.0, f"{measured}, max {limit}", f"{measured} (over {limit})"


def _money(x: float) -> str:
    return f"${x:.6g}"


@TYPES.add("cost", options=("max", "threshold"), needs_value=False, takes_value=False,
          prepare=lambda p: _one_limit(p, "max", "dollars"),
          value_hint="use max: N (dollars)")
def _cost(output: str, limit: float, ctx: AssertionContext) -> Any:
    return _at_most(f"cost {_money(ctx.cost)}", _money(limit), ctx.cost <= limit)


_TOKEN_OPTIONS = ("max", "max_prompt", "max_total")


def _prep_tokens(p: Prepared) -> tuple[tuple[str, float], ...]:
    limits = tuple((key, limit) for key in _TOKEN_OPTIONS
                   if (limit := _limit(p, key)) is not None)
    if not limits:
        raise AssertionSpecError("'tokens' needs a limit",
                                 hint="add max (completion tokens), max_prompt or max_total")
    return limits


@TYPES.add("tokens", options=_TOKEN_OPTIONS, needs_value=False, takes_value=False,
          prepare=_prep_tokens,
          value_hint="use its options: max (completion tokens), max_prompt, max_total")
def _tokens(output: str, limits: tuple[tuple[str, float], ...],
            ctx: AssertionContext) -> Any:
    within = []
    for key, limit in limits:
        if key == "max":
            n, what = ctx.completion_tokens, "completion tokens"
        elif key == "max_prompt":
            n, what = ctx.prompt_tokens, "prompt tokens"
        else:
            n, what = ctx.prompt_tokens + ctx.completion_tokens, "tokens in total"
        if n > limit:
            reason = f"{n} {what}, max {fmt_num(limit)}"
            return False, 0.0, reason, reason + ": over the limit, as required"
        within.append(f"{n} {what} (max {fmt_num(limit)})")
    reason = ", ".join(within)
    return True, 1.0, reason, reason + ": within the limit (must not)"

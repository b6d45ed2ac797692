"""Checks on the output as text: equals, contains (and its case-insensitive, any and all
variants), starts-with, regex, length, levenshtein."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ..errors import quote as quote_value
from .base import (
    AssertionContext,
    AssertionSpecError,
    Prepared,
    Types,
    fmt_num,
    kind_of,
    quote,
)
from .regexes import compile_pattern, search, timed_out
from .structured import json_equal, parse_json

TYPES = Types()  # the types this module defines (builtins.py lists them)


def text_value(p: Prepared, *, numbers: bool = True, empty: bool = False) -> str:
    """The value as a string: numbers are fine for text checks unless `numbers` is off."""
    value = p.value
    ok = isinstance(value, str) or (
        numbers and isinstance(value, (int, float)) and not isinstance(value, bool))
    if not ok:
        raise AssertionSpecError(f"'{p.name}' needs a text 'value', got {kind_of(value)}",
                                 key="value", hint="quote it in YAML if it looks like "
                                                   "a number, a boolean or a list")
    text = value if isinstance(value, str) else str(value)
    if not text and not empty:
        raise AssertionSpecError(f"'{p.name}' has an empty 'value'", key="value",
                                 hint="an empty string matches every output")
    return text


def _items(p: Prepared) -> tuple[str, ...]:
    value = p.value
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise AssertionSpecError(f"'{p.name}' needs a list of strings as 'value', got "
                                 f"{kind_of(value) if value != [] else 'an empty list'}",
                                 key="value", hint="e.g. value: [billing, refund]")
    out = []
    for item in value:
        out.append(text_value(Prepared(p.name, item, p.options, p.threshold)))
    return tuple(out)


def _listing(items: tuple[str, ...] | list[str], limit: int = 5) -> str:
    shown = ", ".join(quote(i, 30) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# ---------------------------------------------------------------------------- equals


def _equals_text(output: str, expected: str) -> tuple[bool, float, str, str]:
    if output == expected:
        return True, 1.0, f"equals {quote(expected)}", f"equals {quote(expected)} (must not)"
    near = ""
    if output.strip() == expected.strip():
        near = " (differs only in surrounding whitespace)"
    elif output.casefold() == expected.casefold():
        near = " (differs only in case)"
    return (False, 0.0, f"expected {quote(expected)}, got {quote(output)}{near}",
            f"differs from {quote(expected)}")


def _equals_json(output: str, expected: Any) -> tuple[bool, float, str, str]:
    ok, parsed = parse_json(output)
    shown = quote(to_json(expected))
    if not ok:
        return False, 0.0, f"expected JSON {shown}, but output is {parsed}", \
            f"is not JSON {shown}: output is {parsed}"
    if json_equal(parsed, expected):
        return True, 1.0, f"equals JSON {shown}", f"equals JSON {shown} (must not)"
    return (False, 0.0, f"expected JSON {shown}, got {quote(to_json(parsed))}",
            f"differs from JSON {shown}")


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _prep_equals(p: Prepared) -> tuple[Callable[[str, Any], Any], Any]:
    if isinstance(p.value, str):
        return _equals_text, p.value
    if isinstance(p.value, (bool, int, float, list, dict)):
        return _equals_json, p.value
    raise AssertionSpecError(f"'equals' cannot compare with {kind_of(p.value)}", key="value")


@TYPES.add("equals", prepare=_prep_equals,
          value_hint="value: the exact expected output (a number, list or mapping compares "
                     "the output parsed as JSON)")
def _equals(output: str, arg: tuple[Callable[[str, Any], Any], Any],
            ctx: AssertionContext) -> Any:
    return arg[0](output, arg[1])


# -------------------------------------------------------------------------- contains


def _prep_one(p: Prepared) -> str:
    return text_value(p)


def _prep_one_ci(p: Prepared) -> tuple[str, str]:
    text = text_value(p)
    return text, text.casefold()


@TYPES.add("contains", prepare=_prep_one,
          value_hint="value: the text the output must contain")
def _contains(output: str, needle: str, ctx: AssertionContext) -> Any:
    if needle in output:
        reason = f"contains {quote(needle)}"
        return True, 1.0, reason, reason + " (must not)"
    return (False, 0.0, f"expected to contain {quote(needle)}, got {quote(output)}",
            f"does not contain {quote(needle)}")


@TYPES.add("icontains", prepare=_prep_one_ci,
          value_hint="value: the text the output must contain, in any case")
def _icontains(output: str, arg: tuple[str, str], ctx: AssertionContext) -> Any:
    needle, folded = arg
    if folded in output.casefold():
        reason = f"contains {quote(needle)} (ignoring case)"
        return True, 1.0, reason, reason + " (must not)"
    return (False, 0.0, f"expected to contain {quote(needle)} (any case), got {quote(output)}",
            f"does not contain {quote(needle)} in any case")


class _Many:
    __slots__ = ("folded", "items", "threshold")

    def __init__(self, items: tuple[str, ...], ci: bool, threshold: float | None) -> None:
        self.items = items
        self.folded = tuple(i.casefold() for i in items) if ci else items
        self.threshold = 1.0 if threshold is None else threshold


def _prep_many(ci: bool) -> Callable[[Prepared], _Many]:
    return lambda p: _Many(_items(p), ci, p.threshold)


def _any(output: str, arg: _Many, ci: bool) -> Any:
    hay = output.casefold() if ci else output
    for item, folded in zip(arg.items, arg.folded, strict=True):
        if folded in hay:
            reason = f"contains {quote(item)}" + (" (ignoring case)" if ci else "")
            return True, 1.0, reason, reason + " (must not)"
    listing = _listing(arg.items)
    return (False, 0.0, f"expected to contain one of {listing}, got {quote(output)}",
            f"contains none of {listing}")


def _all(output: str, arg: _Many, ci: bool) -> Any:
    hay = output.casefold() if ci else output
    pairs = zip(arg.items, arg.folded, strict=True)
    missing = [item for item, folded in pairs if folded not in hay]
    total = len(arg.items)
    score = (total - len(missing)) / total
    passed = score >= arg.threshold
    if not missing:
        reason = f"contains all of {_listing(arg.items)}"
        return True, 1.0, reason, reason + " (must not)"
    found = f"{total - len(missing)} of {total} found"
    if passed:
        return (True, score, f"{found} (threshold {fmt_num(arg.threshold)}); missing "
                f"{_listing(missing)}", f"{found}, at least {fmt_num(arg.threshold)} "
                f"(must not)")
    return (False, score, f"missing {_listing(missing)} ({found}), got {quote(output)}",
            f"missing {_listing(missing)} ({found})")


@TYPES.add("contains-any", prepare=_prep_many(False),
          value_hint="value: a list of strings, one of which the output must contain")
def _contains_any(output: str, arg: _Many, ctx: AssertionContext) -> Any:
    return _any(output, arg, False)


@TYPES.add("icontains-any", prepare=_prep_many(True),
          value_hint="value: a list of strings, one of which the output must contain")
def _icontains_any(output: str, arg: _Many, ctx: AssertionContext) -> Any:
    return _any(output, arg, True)


@TYPES.add("contains-all", prepare=_prep_many(False), scored=True, default_threshold=1.0,
          value_hint="value: a list of strings the output must all contain")
def _contains_all(output: str, arg: _Many, ctx: AssertionContext) -> Any:
    return _all(output, arg, False)


@TYPES.add("icontains-all", prepare=_prep_many(True), scored=True, default_threshold=1.0,
          value_hint="value: a list of strings the output must all contain")
def _icontains_all(output: str, arg: _Many, ctx: AssertionContext) -> Any:
    return _all(output, arg, True)


@TYPES.add("starts-with", prepare=_prep_one,
          value_hint="value: the text the output must start with")
def _starts_with(output: str, prefix: str, ctx: AssertionContext) -> Any:
    if output.startswith(prefix):
        reason = f"starts with {quote(prefix)}"
        return True, 1.0, reason, reason + " (must not)"
    return (False, 0.0, f"expected to start with {quote(prefix)}, got {quote(output)}",
            f"does not start with {quote(prefix)}")


# ----------------------------------------------------------------------------- regex


def _prep_regex(p: Prepared) -> tuple[Any, str]:
    pattern = text_value(p, numbers=False)
    try:
        compiled = compile_pattern(pattern)
    except re.error as exc:
        raise AssertionSpecError(f"invalid regex {quote_value(pattern)}: {exc}", key="value",
                                 hint="Python 're' syntax; in YAML, single-quote patterns "
                                      "that contain backslashes") from None
    shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
    return compiled, f"/{shown}/"


@TYPES.add("regex", prepare=_prep_regex,
          bounds_itself=True,  # its patterns run under ctx.check_timeout (regexes.py)
          value_hint="value: a Python regular expression searched in the output")
def _regex(output: str, arg: tuple[Any, str], ctx: AssertionContext) -> Any:
    try:
        match = search(arg[0], output, ctx.check_timeout)
    except TimeoutError:  # catastrophic backtracking: a failure, negated or not
        return None, 0.0, f"{timed_out(ctx.check_timeout)} matching {arg[1]}", None
    if match is not None:
        reason = f"matched {arg[1]} at {quote(match.group(0), 40)}"
        return True, 1.0, reason, reason + " (must not)"
    return (False, 0.0, f"no match for {arg[1]} in {quote(output)}",
            f"no match for {arg[1]}")


# ---------------------------------------------------------------------------- length

_LENGTH_OPTIONS = ("min_chars", "max_chars", "min_words", "max_words")


def _prep_length(p: Prepared) -> tuple[tuple[str, int | None, int | None], ...]:
    limits: dict[str, int] = {}
    for key in _LENGTH_OPTIONS:
        if key in p.options:
            value = p.options[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise AssertionSpecError(f"'{key}' must be a whole number >= 0, got "
                                         f"{kind_of(value)}", key=key)
            limits[key] = value
    if not limits:
        raise AssertionSpecError("'length' needs at least one limit",
                                 hint="add min_chars, max_chars, min_words or max_words")
    rules = []
    for unit in ("words", "chars"):
        lo, hi = limits.get(f"min_{unit}"), limits.get(f"max_{unit}")
        if lo is not None and hi is not None and lo > hi:
            raise AssertionSpecError(f"min_{unit} ({lo}) is greater than max_{unit} ({hi})",
                                     key=f"min_{unit}")
        if lo is not None or hi is not None:
            rules.append((unit, lo, hi))
    return tuple(rules)


@TYPES.add("length", options=_LENGTH_OPTIONS, needs_value=False, takes_value=False,
          prepare=_prep_length,
          value_hint="use its options: min_chars, max_chars, min_words, max_words")
def _length(output: str, rules: tuple[tuple[str, int | None, int | None], ...],
            ctx: AssertionContext) -> Any:
    within = []
    for unit, lo, hi in rules:
        n = len(output.split()) if unit == "words" else len(output)
        noun = unit if n != 1 else unit[:-1]
        if hi is not None and n > hi:
            reason = f"{n} {noun}, max {hi}"
            return False, 0.0, reason, reason + ": outside the limits, as required"
        if lo is not None and n < lo:
            reason = f"{n} {noun}, min {lo}"
            return False, 0.0, reason, reason + ": outside the limits, as required"
        bounds = (f"{lo}-{hi}" if lo is not None and hi is not None
                  else f"max {hi}" if hi is not None else f"min {lo}")
        within.append(f"{n} {noun} ({bounds})")
    reason = ", ".join(within)
    return True, 1.0, reason, reason + ": within the limits (must not)"


# ----------------------------------------------------------------------- levenshtein


class _Ref:
    __slots__ = ("distance", "max_distance", "ref", "shown", "similarity", "threshold")

    def __init__(self, ref: str, threshold: float, max_distance: int | None) -> None:
        from rapidfuzz.distance import Levenshtein  # deferred: only for levenshtein

        self.ref = ref
        self.shown = quote(ref, 40)
        self.threshold = threshold
        self.max_distance = max_distance
        self.similarity = Levenshtein.normalized_similarity
        self.distance = Levenshtein.distance


def _prep_levenshtein(p: Prepared) -> _Ref:
    ref = text_value(p, empty=True)
    max_distance = p.options.get("max_distance")
    if max_distance is not None:
        if isinstance(max_distance, bool) or not isinstance(max_distance, int) \
                or max_distance < 0:
            raise AssertionSpecError(f"'max_distance' must be a whole number >= 0, got "
                                     f"{kind_of(max_distance)}", key="max_distance")
        if p.threshold is not None:
            raise AssertionSpecError("use either 'threshold' (a similarity in 0..1) or "
                                     "'max_distance' (edits), not both", key="threshold")
    return _Ref(ref, 0.8 if p.threshold is None else p.threshold, max_distance)


@TYPES.add("levenshtein", options=("max_distance",), prepare=_prep_levenshtein, scored=True,
          value_hint="value: the reference text; passes at similarity >= threshold "
                     "(default 0.8) or with max_distance: N edits")
def _levenshtein(output: str, arg: _Ref, ctx: AssertionContext) -> Any:
    score = arg.similarity(arg.ref, output)
    sim = f"{score:.2f}"
    if arg.max_distance is None:
        limit = fmt_num(arg.threshold)
        if score >= arg.threshold:
            return (True, score, f"similarity {sim} to {arg.shown} (threshold {limit})",
                    f"similarity {sim} to {arg.shown}, must be below {limit}")
        return (False, score, f"similarity {sim} < {limit} to {arg.shown}, got "
                f"{quote(output)}", f"similarity {sim} to {arg.shown} (below {limit})")
    distance = arg.distance(arg.ref, output)
    edits = f"edit distance {distance} from {arg.shown}"
    if distance <= arg.max_distance:
        return (True, score, f"{edits} (max {arg.max_distance})",
                f"{edits}, must be more than {arg.max_distance}")
    return (False, score, f"{edits}, max {arg.max_distance}; got {quote(output)}",
            f"{edits} (more than {arg.max_distance})")

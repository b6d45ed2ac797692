"""The params of a family, declared: each family module has a table `PARAMS: {family:
{key: Param}}`, and `check` turns what a user wrote into validated params with every
default filled in (plain JSON types: float, int, str, list, dict, None).

A default of None for a list param means "the built-in list" (the family's module holds
it), so that the params stay short in messages and reports.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import quote, suggest
from .base import PerturbSpecError


def kind_of(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({value!r})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"text ({quote(value, 60)})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


@dataclasses.dataclass(frozen=True)
class Param:
    """One param: its default and a function that validates a value (raising ValueError
    with what was expected) and returns it normalised."""

    default: Any
    convert: Callable[[Any], Any]
    expects: str


def rate(default: float) -> Param:
    def convert(value: Any) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not 0 <= value <= 1:
            raise ValueError
        return float(value)

    return Param(default, convert, "a number from 0 to 1")


def count(default: int, low: int, high: int) -> Param:
    def convert(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError
        return value

    return Param(default, convert, f"a whole number from {low} to {high}")


def choice(default: str, *options: str) -> Param:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise ValueError
        return value

    return Param(default, convert, "one of " + ", ".join(options))


def text(default: str | None, *, empty: bool = False) -> Param:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or (not value and not empty):
            raise ValueError
        return value

    return Param(default, convert, "text" if empty else "non-empty text")


def texts(default: list[str] | None, *, choices: tuple[str, ...] = (),
          empty: bool = False) -> Param:
    """A list of non-empty texts (of `choices` when given); a lone text is a list of one."""
    def convert(value: Any) -> list[str]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or (not items and not empty):
            raise ValueError
        for item in items:
            if not isinstance(item, str) or not item or (choices and item not in choices):
                raise ValueError
        return list(items)

    what = "one of " + ", ".join(choices) if choices else "non-empty text"
    return Param(default, convert, f"a {'' if empty else 'non-empty '}list of {what}")


def mapping(default: dict[str, Any] | None, *, many: bool) -> Param:
    """word -> word (many=False) or word -> [words] (many=True; a lone text is a list of
    one); keys and values are non-empty texts."""
    def convert(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValueError
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key.strip():
                raise ValueError
            if many:
                items = [item] if isinstance(item, str) else item
                if (not isinstance(items, (list, tuple)) or not items
                        or not all(isinstance(i, str) and i.strip() for i in items)):
                    raise ValueError
                out[key] = list(items)
            elif isinstance(item, str) and item.strip():
                out[key] = item
            else:
                raise ValueError
        return out

    what = "word: [words]" if many else "word: word"
    return Param(default, convert, f"a mapping {what}")


def check(family: str, table: Mapping[str, Param], params: Mapping[str, Any]) -> dict[str, Any]:
    """The params validated, in the table's order, defaults filled in."""
    if not isinstance(params, Mapping):
        raise PerturbSpecError(f"{family}: params must be a mapping, got {kind_of(params)}")
    for key in params:
        if key not in table:
            known = ", ".join(table) if table else "none"
            did = suggest(str(key), table)
            raise PerturbSpecError(
                f"{family}: unknown parameter {quote(key, 60)}"
                + (f" ({did})" if did else ""), key=str(key),
                hint=f"{family} takes: {known}")
    out: dict[str, Any] = {}
    for key, param in table.items():
        if key not in params:
            out[key] = param.default
            continue
        value = params[key]
        try:
            out[key] = param.convert(value)
        except ValueError:
            raise PerturbSpecError(f"{family}: '{key}' must be {param.expects}, "
                                   f"got {kind_of(value)}", key=key) from None
    return out

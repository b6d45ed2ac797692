"""Shared pieces of the assertion checks: the error, the context, what `prepare` sees,
and the wording helpers that keep reasons short and uniform."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class AssertionSpecError(Exception):
    """An assertion as written is wrong. `key` names the option at fault (None: the
    assertion as a whole) so the caller can point at its YAML line."""

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.key = key
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


@dataclass
class AssertionContext:
    """What a check may look at besides the output."""

    vars: dict[str, Any] = field(default_factory=dict)
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    messages: list[dict[str, str]] = field(default_factory=list)
    root: Path = Path(".")
    prompt: str = ""
    model: str = ""
    # model access for similar, choice, perplexity and the judges (promptctl.services)
    services: Any = None
    token_logprobs: list[float] | None = None  # of the output, when the provider gave them
    check_timeout: float = 30.0  # seconds one check may take (promptctl.yaml limits)


@dataclass(frozen=True)
class Prepared:
    """What `prepare` sees: one assertion as written, minus the common keys."""

    name: str  # the type without a `not-` prefix
    value: Any
    options: dict[str, Any]
    # scored types: as written, else their default_threshold; others: as written
    threshold: float | None


# ---------------------------------------------------------------------------- wording


def quote(text: str, limit: int = 80) -> str:
    """A string for a reason: quoted, on one line, shortened to `limit` characters."""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return repr(text)


def fmt_num(x: float) -> str:
    """A number for a reason: 0.8, 3, 0.667."""
    return f"{round(x, 3):g}"


def kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({quote(value, 40)})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def suggest(name: str, choices: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else None


def exc_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def to_text(value: Any) -> str:
    """A transform's result as text: JSON for containers, booleans and None."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)

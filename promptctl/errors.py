"""One user-facing error type and the exit codes every command shares.

A failing case is a result, never an exception: these exceptions are for input that
is wrong (exit 2) and infrastructure that failed (exit 3). The CLI's error funnel is
the only place that turns them into a message and an exit code.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable
from pathlib import Path


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1  # the verdict is negative: a failing case, a regression, a lint finding
    USAGE = 2  # the input is wrong: YAML, schema, template, unknown name, bad flag
    INFRA = 3  # the infrastructure failed: no verdict could be reached


class PromptctlError(Exception):
    """Base class: carries an exit code, a location and a hint on what to do."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.hint = hint

    @property
    def location(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.file else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


def cut(text: str, limit: int = 200) -> str:
    """Text for a message, cut to `limit` characters with its full length said."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def quote(value: object, limit: int = 200) -> str:
    """A user's value for a message: quoted as repr() does, on one line, and cut to
    about `limit` characters with its full length said, so that a 5 MB value in a
    broken suite still gives a one-line error."""
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        shown = repr(value[:limit])
        return f"{shown[:-1]}…{shown[-1]} ({len(value):,} characters)"
    return cut(repr(value), limit)


class UserError(PromptctlError):
    """The input is wrong: exit code 2."""

    exit_code = ExitCode.USAGE


class InfraError(PromptctlError):
    """A model or server could not be reached or failed: exit code 3."""

    exit_code = ExitCode.INFRA


def suggest(name: str, choices: Iterable[str]) -> str | None:
    """'did you mean ...?' for a close spelling, or the one choice that contains it."""
    options = list(choices)
    match = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if not match and name:
        match = [c for c in options if name in c][:2]
        if len(match) != 1:
            return None
    return f"did you mean '{match[0]}'?" if match else None

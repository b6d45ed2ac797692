"""Shared pieces of the assertion checks: the error, the context (with ModelAccess, the
model access it carries), what `prepare` sees, and the wording helpers that keep
reasons short and uniform."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..schema import Limits

NEGATION = "not-"


class AssertionSpecError(Exception):
    """An assertion as written is wrong. `key` names the option at fault (None: the
    assertion as a whole) so the caller can point at its YAML line; `file` and `line`,
    when set, name another file at fault (a python check's syntax error)."""

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None,
                 file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.key = key
        self.hint = hint
        self.file = file
        self.line = line

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ModelAccess(Protocol):
    """What the model-graded checks may ask for (models.py, judges.py). run/services.py
    implements it over the providers and the response cache of the calls under test;
    every method raises InfraError when the model fails (the case gets no verdict)."""

    def embed(self, texts: list[str], embedder: str | None = None) -> list[list[float]]:
        """One embedding per text, by the `embedder` alias (default: the project's)."""
        ...

    def continuation_logprobs(self, model: str, messages: list[dict[str, str]],
                              continuations: list[str]) -> list[list[float]]:
        """Token logprobs of each continuation as `model`'s reply to `messages`."""
        ...

    def output_logprobs(self, model: str, messages: list[dict[str, str]], output: str
                        ) -> list[float]:
        """Token logprobs of `output` under the model that produced it."""
        ...

    def judge_messages(self, prompt: str, variables: dict[str, Any]) -> list[dict[str, str]]:
        """A user's judge prompt (COLLECTION.PROMPT in prompts/), rendered."""
        ...

    def judge(self, messages: list[dict[str, str]], schema: dict[str, Any],
              judge: str | None = None) -> dict[str, Any]:
        """The judge's reply to `messages`: JSON valid against `schema`, parsed."""
        ...


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
    # model access for similar, choice, perplexity and the judges; None outside
    # promptctl's runner, where those checks raise InfraError
    services: ModelAccess | None = None
    token_logprobs: list[float] | None = None  # of the output, when the provider gave them
    # seconds a check may take (limits.check_timeout, or the assertion's `timeout:`)
    check_timeout: float = Limits.model_fields["check_timeout"].default
    # the case's, for a python check's promptfoo-style context["test"]; read only
    description: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # the tool calls of the answer checked (results.ToolCall), in the order made
    tool_calls: list[Any] = field(default_factory=list)
    # the prompt's tools as sent (OpenAI's form, rendered): what tool-args-schema
    # checks arguments against
    tools: list[dict[str, Any]] = field(default_factory=list)
    # the whole conversation as messages, the last answer included (for one call: the
    # prompt's messages and the answer); what `scope: transcript` judges read
    transcript: list[dict[str, Any]] = field(default_factory=list)
    turn: int | None = None  # the 1-based turn checked, in a conversation; else None


@dataclass(frozen=True)
class Prepared:
    """What `prepare` sees: one assertion as written, minus the common keys."""

    name: str  # the type without a `not-` prefix
    value: Any
    options: dict[str, Any]
    # scored types: as written, else their default_threshold; others: as written
    threshold: float | None


# ------------------------------------------------------------------------ definitions

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


def make_entry(
    name: str,
    fn: Check,
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
) -> Entry:
    """A check under `name`.

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
    return Entry(
        name=name, check=fn, options=tuple(options), needs_value=needs_value,
        takes_value=takes_value or needs_value, prepare=prepare, scored=scored,
        default_threshold=default_threshold, value_hint=value_hint,
        on_validate=on_validate,
        inline=fn.__module__ in _INLINE_MODULES if inline is None else inline,
        bounds_itself=fn.__module__ in _MODEL_MODULES if bounds_itself is None
        else bounds_itself)


class Types(dict[str, Entry]):
    """The types one built-in module defines (its `TYPES`), read by the registry when
    one of them is first used (builtins.py lists which module defines which)."""

    def add(self, name: str, **options: Any) -> Callable[[Check], Check]:
        """Define a check under `name`; the options are make_entry's."""

        def decorator(fn: Check) -> Check:
            self[name] = make_entry(name, fn, **options)
            return fn

        return decorator


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

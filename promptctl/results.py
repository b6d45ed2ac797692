"""Plain data that flows between stages: what a provider returns, what an assertion
decides, and the record of one model call. These are results, never exceptions.

The keys every stage shares are defined here, once: a cell of the matrix is one case on
one prompt and one model of a suite (CellKey); each of its samples is a RecordKey.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

CellKey = tuple[str, str, str, str]  # (suite, case, prompt, model)
RecordKey = tuple[str, str, str, str, int]  # (suite, case, prompt, model, repeat)
SuiteCellKey = tuple[str, str, str]  # a cell within its suite: (case, prompt, model)


def canonical(value: Any) -> str:
    """The one JSON text of a value: keys sorted, no spaces, non-ASCII kept; what
    cannot be JSON becomes its str(). Equal values give equal texts."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


def digest(value: Any) -> str:
    """sha256 of canonical(value): the key of a response in the cache, of a judge's or
    embedder's answer, of a call's rendered messages (its fingerprint)."""
    return hashlib.sha256(canonical(value).encode()).hexdigest()


@dataclass
class ToolCall:
    """One function call a model asked for: the tool's name, its arguments parsed from
    JSON (None when `raw` is not JSON: the model made them up badly) and as sent. `id`
    is the provider's id for it; promptctl numbers it call_1, call_2... in a record so
    that neither the cache key nor a baseline depends on a provider's random ids."""

    name: str
    arguments: Any = None
    raw: str = ""
    id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments, "raw": self.raw,
                "id": self.id}

    @classmethod
    def from_dict(cls, data: Any) -> ToolCall:
        data = data if isinstance(data, dict) else {}
        return cls(name=str(data.get("name", "")), arguments=data.get("arguments"),
                   raw=str(data.get("raw", "")), id=str(data.get("id", "")))

    def message_call(self) -> dict[str, Any]:
        """The call as an assistant message's `tool_calls` item (OpenAI's form)."""
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.raw}}


def tool_call_of(name: str, raw: Any, call_id: str = "") -> ToolCall:
    """A ToolCall from a provider's (name, arguments): arguments as a JSON text (the
    API's form) or already parsed (a grammar-constrained reply)."""
    if isinstance(raw, str):
        try:
            arguments = json.loads(raw) if raw.strip() else {}
        except ValueError:
            arguments = None
        return ToolCall(name=name, arguments=arguments, raw=raw, id=call_id)
    return ToolCall(name=name, arguments=raw, raw=canonical(raw), id=call_id)


@dataclass
class Completion:
    """What a provider returns for one call: its text, and the tool calls it asked
    for (a reply may have both, or only calls and an empty text)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    finish_reason: str | None = None
    cost: float = 0.0
    token_logprobs: list[float] | None = None  # of the reply's tokens, when asked for
    retries: int = 0  # failed attempts before this answer (promptctl/retry.py)
    # what a hosted endpoint says it ran (the response's `model`: the dated snapshot
    # behind an alias, and its `system_fingerprint`); None from providers that do not say
    served_model: str | None = None
    system_fingerprint: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass
class AssertionResult:
    type: str
    passed: bool
    score: float
    reason: str
    weight: float = 1.0
    metric: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {"type": self.type, "passed": self.passed, "score": self.score,
                "reason": self.reason}
        if self.metric:
            data["metric"] = self.metric
        if self.weight != 1.0:
            data["weight"] = self.weight
        return data


@dataclass
class CallRecord:
    """One model call of a run: the unit that is streamed, cached, and reported."""

    suite: str
    case: str
    prompt: str
    model: str
    repeat: int
    messages: list[dict[str, Any]]  # text only, but for a conversation's tool calls
    params: dict[str, Any]
    output: str | None = None
    passed: bool = False
    score: float = 0.0
    assertions: list[AssertionResult] = field(default_factory=list)
    latency_ms: float = 0.0
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    cost: float = 0.0
    cached: bool = False
    error: str | None = None
    fingerprint: dict[str, Any] = field(default_factory=dict)
    retries: int = 0  # failed attempts of this call (an error's message says why)
    # the case's, for reports and `-k` on a saved run; shared with the case, read-only
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    # the tool calls of the answer scored (ToolCall.to_dict()s): of the last turn in a
    # conversation; [] when none (and then absent from records.jsonl)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    # a conversation's turns (run/turns.py), each a Turn.to_dict(); None for one call.
    # `messages` is then the whole transcript and `output` the last turn's text
    turns: list[dict[str, Any]] | None = None

    @property
    def key(self) -> RecordKey:
        return (self.suite, self.case, self.prompt, self.model, self.repeat)

    @property
    def cell(self) -> CellKey:
        return (self.suite, self.case, self.prompt, self.model)

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        return "pass" if self.passed else "fail"

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for JSON. Shallow on purpose: records are written once per call
        and never mutated afterwards, so dataclasses.asdict's deep copy is wasted work."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["assertions"] = [a.to_dict() for a in self.assertions]
        if not self.metadata:  # most cases have none: records.jsonl stays as it was
            del data["metadata"]
        if self.tags:
            data["tags"] = list(self.tags)
        else:
            del data["tags"]
        if not self.tool_calls:
            del data["tool_calls"]
        if self.turns is None:
            del data["turns"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallRecord:
        data = dict(data)
        data["assertions"] = [
            AssertionResult(type=a["type"], passed=a["passed"], score=a["score"],
                            reason=a.get("reason", ""), weight=a.get("weight", 1.0),
                            metric=a.get("metric"))
            for a in data.get("assertions", [])
        ]
        if "tags" in data:
            data["tags"] = tuple(data["tags"])
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Turn:
    """One turn of a conversation as its record keeps it: the user message that opened
    it (None for the prompt's own), the model's final text, every tool call it made in
    the turn (answered by the case's canned `tool_results` or not) and what it took."""

    input: str | None
    output: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    latency_ms: float = 0.0
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "output": self.output, "tool_calls": self.tool_calls,
                "tokens": self.tokens, "latency_ms": self.latency_ms,
                "cached": self.cached}

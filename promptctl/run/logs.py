"""Production logs as promptctl reads them (`promptctl score`): one JSON object per line,
mapped to a LogLine by field paths (docs/score.md).

A line holds `vars` (an object) or `messages` (the rendered chat: a list of
{role, content}), the `output` (a string) and a `timestamp` (ISO 8601, or Unix seconds;
a number above 1e11 is taken as milliseconds; a time without a zone is UTC), and
optionally `prompt`, `model`, `latency_ms`, `tokens` ({prompt, completion}, or OpenAI's
{prompt_tokens, completion_tokens}), `case` (a case id of the suite) and `id`.
`Mapping` says where each field is found: a dotted path with list indices
(`response.choices.0.message.content`; `-1` is the last item), `vars.NAME` for one var.
The `openai` preset reads OpenAI chat-completion request/response pairs
({"request": {...}, "response": {...}}; a batch output's `response.body` too).

Invariants: the file is read line by line and never held (`read_log` is a generator);
a line that cannot be read is a BadLine naming its line number and the fix, never an
exception (the caller decides: exit 2, or count it with --skip-bad); blank lines are
skipped. A file whose first character is `[` is a JSON array, read whole (small
exports only, at most MAX_ARRAY bytes: a large log should be JSONL), its items numbered
from 1. Memory is bounded: a line longer than MAX_LINE is a BadLine, read past in
chunks, never held whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import UserError, quote

MAX_LINE = 16 << 20  # bytes of one log line
MAX_ARRAY = 256 << 20  # bytes of a log written as one JSON array
FIELDS = ("vars", "messages", "output", "timestamp", "prompt", "model", "latency_ms",
          "tokens", "case", "id")
PRESETS: dict[str, dict[str, str]] = {
    "promptctl": {},
    "openai": {
        "messages": "request.messages",
        "output": "response.choices.0.message.content",
        "timestamp": "response.created",
        "model": "response.model",
        "tokens": "response.usage",
        "id": "response.id",
    },
}
MILLIS = 1e11  # a Unix time above this is in milliseconds (year 5138 in seconds)


@dataclass(slots=True)
class LogLine:
    """One line of a log, read and checked."""

    line: int  # 1-based line number (or item number of a JSON array)
    output: str
    time: datetime | None  # UTC
    vars: dict[str, Any] | None = None
    messages: list[dict[str, str]] | None = None
    prompt: str | None = None
    model: str | None = None
    latency_ms: float = 0.0
    tokens: dict[str, int] = field(default_factory=dict)
    case: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that cannot be scored: where, what is wrong, and how to fix it."""

    line: int
    message: str
    hint: str

    def error(self, file: str) -> UserError:
        return UserError(self.message, file=file, line=self.line, hint=self.hint)


class Mapping:
    """Where each field of a line is found: a preset's paths, with --field overrides."""

    def __init__(self, preset: str = "promptctl", fields: list[str] | None = None) -> None:
        if preset not in PRESETS:
            raise UserError(f"unknown log format '{preset}'",
                            hint="use one of: " + ", ".join(PRESETS))
        paths = {name: name for name in FIELDS}
        paths.update(PRESETS[preset])
        self.var_paths: dict[str, list[str]] = {}  # vars.NAME=PATH
        for item in fields or []:
            target, sep, path = item.partition("=")
            target, path = target.strip(), path.strip()
            if not sep or not target or not path:
                raise UserError(f"--field {quote(item)}: expected FIELD=PATH",
                                hint="e.g. --field output=response.text")
            if target.startswith("vars.") and len(target) > 5:
                self.var_paths[target[5:]] = _split(path)
                continue
            if target not in FIELDS:
                raise UserError(f"--field {quote(item)}: unknown field '{target}'",
                                hint="fields: " + ", ".join(FIELDS) + ", vars.NAME")
            paths[target] = path
        self.paths = paths
        self._split = {name: _split(p) for name, p in paths.items()}

    def get(self, obj: Any, name: str) -> Any:
        return _at(obj, self._split[name])

    def where(self, name: str) -> str:
        return "'" + self.paths[name] + "'"


def _split(path: str) -> list[str]:
    return [part for part in path.split(".") if part != ""]


_MISSING = object()


def _at(obj: Any, parts: list[str]) -> Any:
    """The value at a dotted path (list items by index), or _MISSING."""
    for part in parts:
        if isinstance(obj, dict):
            if part not in obj:
                return _MISSING
            obj = obj[part]
        elif isinstance(obj, list):
            try:
                obj = obj[int(part)]
            except (ValueError, IndexError):
                return _MISSING
        else:
            return _MISSING
    return obj


def parse_time(value: Any) -> datetime | None:
    """A timestamp: ISO 8601 text (no zone: UTC) or Unix seconds (milliseconds above
    1e11), as an aware UTC datetime; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return None
        seconds = value / 1000 if abs(value) > MILLIS else value
        try:
            return datetime.fromtimestamp(seconds, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            try:
                return parse_time(float(text))
            except ValueError:
                return None
        if when.tzinfo is None:
            return when.replace(tzinfo=timezone.utc)
        return when.astimezone(timezone.utc)
    return None


def _content(value: Any) -> str | None:
    """A message's content: text, or the text parts of a list of parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [p.get("text") for p in value if isinstance(p, dict)]
        if all(isinstance(p, str) for p in parts):
            return "".join(p for p in parts if isinstance(p, str))
    return None if value is not None else ""


def _messages(value: Any) -> list[dict[str, str]] | str:
    """Rendered messages, or why they are not."""
    if not isinstance(value, list) or not value:
        return "is not a non-empty list of messages"
    out = []
    for i, m in enumerate(value):
        role = m.get("role") if isinstance(m, dict) else None
        content = _content(m.get("content")) if isinstance(m, dict) else None
        if not isinstance(role, str) or content is None:
            return f"item {i} is not a message with a 'role' and a text 'content'"
        out.append({"role": role, "content": content})
    return out


def _tokens(value: Any) -> dict[str, int] | None:
    if isinstance(value, dict):
        out = {}
        for key, names in (("prompt", ("prompt", "prompt_tokens", "input_tokens")),
                           ("completion", ("completion", "completion_tokens",
                                           "output_tokens"))):
            found = next((value[n] for n in names if n in value), 0)
            if isinstance(found, bool) or not isinstance(found, int):
                return None
            out[key] = found
        return out
    if isinstance(value, int) and not isinstance(value, bool):
        return {"prompt": 0, "completion": value}
    return None


class Reader:
    """Turns a parsed line into a LogLine or a BadLine, by a Mapping."""

    def __init__(self, mapping: Mapping, *, need_time: bool) -> None:
        self.mapping = mapping
        self.need_time = need_time

    def line(self, number: int, obj: Any) -> LogLine | BadLine:
        m = self.mapping
        if not isinstance(obj, dict):
            return BadLine(number, f"a {type(obj).__name__}, not a JSON object",
                           "write one JSON object per line")
        output = m.get(obj, "output")
        if output is _MISSING or output is None:
            return BadLine(number, f"no output at {m.where('output')}",
                           "map it with --field output=PATH (e.g. response.text)")
        if not isinstance(output, str):
            return BadLine(number, f"the output at {m.where('output')} is "
                           f"{_json_kind(output)}, not text",
                           "map the text with --field output=PATH")
        raw_time = m.get(obj, "timestamp")
        when = None if raw_time is _MISSING or raw_time is None else parse_time(raw_time)
        if when is None and (self.need_time or raw_time not in (_MISSING, None)):
            what = "no timestamp" if raw_time in (_MISSING, None) else \
                f"the timestamp {quote(raw_time, 60)} is neither ISO 8601 nor Unix seconds"
            return BadLine(number, f"{what} at {m.where('timestamp')}",
                           "map it with --field timestamp=PATH, or window by line "
                           "count with --by N")
        out = LogLine(number, output, when)
        raw_vars = m.get(obj, "vars")
        if raw_vars is not _MISSING and raw_vars is not None:
            if not isinstance(raw_vars, dict):
                return BadLine(number, f"'vars' at {m.where('vars')} is not an object",
                               "write vars as a JSON object of NAME: VALUE")
            out.vars = raw_vars
        if m.var_paths:
            out.vars = dict(out.vars or {})
            for name, parts in m.var_paths.items():
                value = _at(obj, parts)
                if value is not _MISSING:
                    out.vars[name] = value
        raw_messages = m.get(obj, "messages")
        if raw_messages is not _MISSING and raw_messages is not None:
            messages = _messages(raw_messages)
            if isinstance(messages, str):
                return BadLine(number, f"'messages' at {m.where('messages')} {messages}",
                               "write messages as [{\"role\": ..., \"content\": ...}]")
            out.messages = messages
        for name in ("prompt", "model", "case", "id"):
            value = m.get(obj, name)
            if value is _MISSING or value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, str | int):
                return BadLine(number, f"'{name}' at {m.where(name)} is not text",
                               f"write {name} as a string")
            setattr(out, name, str(value))
        if out.vars is None and out.messages is None and out.case is None:
            return BadLine(number, f"neither vars (at {m.where('vars')}) nor messages "
                           f"(at {m.where('messages')})",
                           "log the inputs as 'vars' or 'messages', or map them with "
                           "--field")
        latency = m.get(obj, "latency_ms")
        if latency is not _MISSING and latency is not None:
            if isinstance(latency, bool) or not isinstance(latency, int | float):
                return BadLine(number, f"'latency_ms' at {m.where('latency_ms')} is not "
                               "a number", "write latency_ms as milliseconds")
            out.latency_ms = float(latency)
        tokens = m.get(obj, "tokens")
        if tokens is not _MISSING and tokens is not None:
            counted = _tokens(tokens)
            if counted is None:
                return BadLine(number, f"'tokens' at {m.where('tokens')} is not "
                               "{prompt, completion} counts",
                               "write tokens as {\"prompt\": N, \"completion\": N}")
            out.tokens = counted
        return out


def _json_kind(value: Any) -> str:
    """What a JSON value is, as its writer would say it."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    return "an array" if isinstance(value, list) else "not a string"


def read_log(path: Path, reader: Reader,
             on_bytes: Callable[[int], None] | None = None
             ) -> Iterator[LogLine | BadLine]:
    """Every line of the log, in file order: a LogLine, or a BadLine. `on_bytes(n)`
    after each line with the bytes it took (a progress bar)."""
    # deferred: orjson parses a line several times faster than json (and only here)
    import orjson

    with path.open("rb") as fh:
        head = fh.read(1)
        while head and head.isspace():
            head = fh.read(1)
        fh.seek(0)
        if head == b"[":
            if path.stat().st_size > MAX_ARRAY:
                raise UserError(f"a JSON array of more than {MAX_ARRAY >> 20} MiB",
                                file=str(path), hint="write the log as JSONL (one object "
                                "per line): it is streamed, whatever its size")
            yield from _array(path, reader, fh.read(), on_bytes)
            return
        number = 0
        while raw := fh.readline(MAX_LINE + 1):
            number += 1
            if on_bytes is not None:
                on_bytes(len(raw))
            if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                while (rest := fh.readline(1 << 20)) and not rest.endswith(b"\n"):
                    if on_bytes is not None:  # read past the rest of the line
                        on_bytes(len(rest))
                if on_bytes is not None:
                    on_bytes(len(rest))
                yield BadLine(number, f"a line of more than {MAX_LINE >> 20} MiB",
                              "log the output, not whole documents, on one line")
                continue
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield BadLine(number, f"not JSON ({str(exc).split(':')[0]})",
                              "write one JSON object per line (JSONL)")
                continue
            yield _response_body(reader.line(number, obj), reader, number, obj)


def _array(path: Path, reader: Reader, data: bytes,
           on_bytes: Callable[[int], None] | None) -> Iterator[LogLine | BadLine]:
    import orjson  # deferred: see read_log

    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UserError(f"not a JSON array ({exc})", file=str(path),
                        hint="write a JSON array of objects, or one object per line") \
            from None
    if on_bytes is not None:
        on_bytes(len(data))
    if not isinstance(items, list):
        raise UserError("not a JSON array", file=str(path), hint="write one object per line")
    for number, obj in enumerate(items, 1):
        yield _response_body(reader.line(number, obj), reader, number, obj)


def _response_body(got: LogLine | BadLine, reader: Reader, number: int, obj: Any
                   ) -> LogLine | BadLine:
    """An OpenAI batch output line keeps the completion under response.body: read
    again from there when the paths under `response` found nothing."""
    if not isinstance(got, BadLine) or not isinstance(obj, dict):
        return got
    response = obj.get("response")
    if isinstance(response, dict) and isinstance(response.get("body"), dict) \
            and reader.mapping.paths["output"].startswith("response."):
        return reader.line(number, {**obj, "response": response["body"]})
    return got

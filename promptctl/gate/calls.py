"""Tool calls and conversation turns as a review reads them: what a baseline keeps of
them, one line of text for each, and what changed between two samples in words.

A tool call is shown `get_weather({"city":"Paris"})`: its name and its arguments as
canonical JSON (keys sorted, no spaces), or as the model sent them when they were not
JSON. A reply is its calls then its text, joined by " / " (a reply without calls is
its text alone, exactly as before tools existed). A conversation is one line per turn:
`turn 2: what time is it? → get_time({}) / It is noon.` (the input only where it is
known: records have it, baselines do not).

What a baseline keeps of a call is its name and arguments (`kept_call`): the raw text
and the id are noise (whitespace of the JSON; ids promptctl numbers call_1, call_2...),
but for arguments that were not JSON, whose raw text is all there is. A turn keeps its
text and calls. Everything here works on plain dicts (CallRecord.tool_calls,
CallRecord.turns, a baseline's samples), never on the classes that hold them.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from ..results import canonical

VALUE_LIMIT = 40  # characters of an argument's value in a change line
ARGUMENTS_LIMIT = 80  # characters of a call's arguments where space is short

Call = Mapping[str, Any]


def kept_call(call: Call) -> dict[str, Any]:
    """What a baseline keeps of a tool call: name and arguments; the raw text only when
    the arguments were not JSON (then it is the only record of them)."""
    kept: dict[str, Any] = {"name": str(call.get("name", "")),
                            "arguments": call.get("arguments")}
    if kept["arguments"] is None and call.get("raw"):
        kept["raw"] = str(call["raw"])
    return kept


def kept_turn(turn: Mapping[str, Any]) -> dict[str, Any]:
    """What a baseline keeps of a turn: its text, and its calls when it made any."""
    kept: dict[str, Any] = {"output": str(turn.get("output") or "")}
    calls = [kept_call(c) for c in turn.get("tool_calls") or []]
    if calls:
        kept["tool_calls"] = calls
    return kept


def _cut(text: str, limit: int | None) -> str:
    return text if limit is None or len(text) <= limit else text[: max(0, limit - 1)] + "…"


def call_text(call: Call, limit: int | None = None) -> str:
    """`name({"key":"value"})`, the arguments cut to `limit` characters."""
    arguments = call.get("arguments")
    body = canonical(arguments) if arguments is not None else str(call.get("raw") or "")
    return f"{call.get('name', '')}({_cut(body, limit)})"


def reply_text(output: str | None, calls: Sequence[Call], limit: int | None = None) -> str:
    """A reply's calls, then its text, joined by " / "; a reply without calls is its
    text as it is."""
    if not calls:
        return output or ""
    return " / ".join([*(call_text(c, limit) for c in calls), *([output] if output else [])])


def turn_lines(turns: Sequence[Mapping[str, Any]], limit: int | None = None) -> list[str]:
    """One line per turn: `turn N: INPUT → CALLS / TEXT` (the input where known)."""
    lines = []
    for n, turn in enumerate(turns, start=1):
        said = reply_text(turn.get("output"), turn.get("tool_calls") or [], limit)
        given = turn.get("input")
        lines.append(f"turn {n}: " + (f"{given} → " if given is not None else "") + said)
    return lines


def shown(output: str | None, calls: Sequence[Call],
          turns: Sequence[Mapping[str, Any]] | None, limit: int | None = None) -> str:
    """What a sample said, as one text: a conversation's turns (one a line), or a
    reply's calls and text. Without calls or turns: the output as it is."""
    if turns is not None:
        return "\n".join(turn_lines(turns, limit))
    return reply_text(output, calls, limit)


def _value(value: Any) -> str:
    return _cut(canonical(value), VALUE_LIMIT)


def _argument_changes(before: Any, after: Any) -> str:
    """`city "Paris" -> "London", unit absent -> "C"`: per key, sorted."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return f"arguments {_value(before)} -> {_value(after)}"
    changes = []
    for key in sorted(set(before) | set(after)):
        old = _value(before[key]) if key in before else "absent"
        new = _value(after[key]) if key in after else "absent"
        if key not in before or key not in after or before[key] != after[key]:
            changes.append(f"{key} {old} -> {new}")
    return ", ".join(changes)


def _pair(n: int, b: Call, a: Call) -> str | None:
    name_b, name_a = b.get("name", ""), a.get("name", "")
    if name_b != name_a:
        return (f"tool call {n}: {call_text(b, ARGUMENTS_LIMIT)} -> "
                f"{call_text(a, ARGUMENTS_LIMIT)}")
    if b.get("arguments") is None and a.get("arguments") is None:
        if b.get("raw") == a.get("raw"):
            return None
        return f"tool call {n} {name_a}: arguments {call_text(b, VALUE_LIMIT)} -> " \
               f"{call_text(a, VALUE_LIMIT)}"
    if b.get("arguments") == a.get("arguments"):
        return None
    return f"tool call {n} {name_a}: {_argument_changes(b.get('arguments'), a.get('arguments'))}"


def call_changes(before: Sequence[Call], after: Sequence[Call]) -> list[str]:
    """What changed between two replies' calls, a line each: a call added or gone
    (numbered as it stands, in the reply that has it), another tool, other arguments
    (per key). Calls are matched as a sequence, so one call added in front does not
    read as every later call changed."""
    keys_b = [canonical(kept_call(c)) for c in before]
    keys_a = [canonical(kept_call(c)) for c in after]
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, keys_b, keys_a, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        pairs = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(pairs):
            line = _pair(j1 + k + 1, before[i1 + k], after[j1 + k])
            if line:
                out.append(line)
        out += [f"tool call {j + 1} {after[j].get('name', '')} added"
                for j in range(j1 + pairs, j2)]
        out += [f"tool call {i + 1} {before[i].get('name', '')} gone"
                for i in range(i1 + pairs, i2)]
    return out


def sample_changes(before_calls: Sequence[Call], before_turns: Sequence[Call] | None,
                   after_calls: Sequence[Call], after_turns: Sequence[Call] | None
                   ) -> list[str]:
    """What changed in a sample's tool calls and turns, in words: `tool call 1
    get_weather: city "Paris" -> "London"`, `turn 2: tool call 1 get_time added`,
    `turn 2: text changed`, `turn 3 added`. A changed text of a single reply is not
    listed: the word diff of the outputs shows it."""
    if before_turns is None and after_turns is None:
        return call_changes(before_calls, after_calls)
    if before_turns is None or after_turns is None:
        words = {True: "one call", False: "a conversation"}
        return [f"{words[before_turns is None]} -> {words[after_turns is None]}"
                + (f" of {len(after_turns)} turns" if after_turns is not None else "")]
    out: list[str] = []
    for n, (b, a) in enumerate(zip(before_turns, after_turns, strict=False), start=1):
        if (b.get("output") or "") != (a.get("output") or ""):
            out.append(f"turn {n}: text changed")
        out += [f"turn {n}: {line}" for line in
                call_changes(b.get("tool_calls") or [], a.get("tool_calls") or [])]
    out += [f"turn {n} added" for n in range(len(before_turns) + 1, len(after_turns) + 1)]
    out += [f"turn {n} gone" for n in range(len(after_turns) + 1, len(before_turns) + 1)]
    return out

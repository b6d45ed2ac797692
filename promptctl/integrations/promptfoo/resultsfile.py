"""promptfoo's results JSON, read: `read_results(path) -> Results`, one `Row` per result
with what matching needs (integrations/promptfoo/results.py) and the output as a
run/given.py `Given`.

What promptfoo writes (`promptfoo eval -o results.json`, `promptfoo export EVAL_ID`):
{evalId, results: {version: 3, timestamp, prompts, results: [EvaluateResult...],
stats}, config, metadata: {promptfooVersion, ...}, runtimeOptions: {repeat, ...}}.
Version 2 has the same list of results (and a `table` beside it), without `testIdx`.
Any other file is exit 2 naming it, its line where one is at fault, and the shape
expected. Read leniently inside a result: a field of an unexpected type counts as
absent, so one odd result is unmatched or an error, never a crash.

Kept of a result: the output (a non-text output as JSON text, as JSON.stringify writes
it), tokens, latency, cost; one with no output (a provider error, promptfoo's "No
output") gives the call's error, its first line (promptfoo appends the stack). Its
verdict is not read: promptfoo sets `error` on a failed assertion too, and that is its
grading, not an error of the call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...boundary import display_path, read_bytes
from ...errors import UserError
from ...results import Completion
from ...run.given import Given

MAX_BYTES = 1_000_000_000
VERSIONS = (2, 3)
EXPECTED = ("expected the JSON of `promptfoo eval -o results.json` or `promptfoo export`: "
            "{evalId, results: {version: 3, results: [...]}, config}")


@dataclass
class Row:
    """One promptfoo result, as far as matching needs it."""

    n: int  # its place in the file's list of results, from 1
    test_idx: int | None
    prompt_idx: int | None
    prompt: str | None  # promptfoo's label of the prompt
    rendered: str | None  # prompt.raw: the prompt as promptfoo rendered it
    provider_id: str | None
    provider_label: str | None
    vars: dict[str, Any]
    given: Given

    def __str__(self) -> str:
        parts = [f"result {self.n}"]
        if self.test_idx is not None:
            parts.append(f"testIdx {self.test_idx}")
        parts.append(f"prompt {short(self.prompt)}")
        parts.append(f"provider {short(self.provider_label or self.provider_id)}")
        return f"{parts[0]} ({', '.join(parts[1:])})"


@dataclass
class Results:
    shown: str  # the file, as the user would type it
    version: int
    rows: list[Row]
    config: dict[str, Any] | None  # the config promptfoo embeds
    provider_keys: list[str]  # each provider's label or id, in the config's order
    columns: int  # the results' prompts: one per provider and prompt it ran
    repeat: int | None = None  # runtimeOptions.repeat: `promptfoo eval --repeat N`
    eval_id: str | None = None
    timestamp: str | None = None
    tool_version: str | None = None


def read_results(path: Path) -> Results:
    # deferred: the JSON helpers of artifacts.py (its pydantic shapes) only here
    from ...artifacts import decode, json_line, parse_json

    shown = display_path(path)
    if not path.is_file():
        raise UserError("promptfoo results file not found" if not path.exists() else
                        "not a file", file=shown, hint="give the file `promptfoo eval -o "
                        "results.json` wrote")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise UserError(f"larger than {MAX_BYTES:,} bytes", file=shown)
        data = read_bytes(path)
    except OSError as exc:
        raise UserError(f"cannot read it: {exc.strerror or exc}", file=shown) from None
    text = decode(data, shown, "promptfoo results", EXPECTED)
    top = parse_json(text, shown, "promptfoo results", EXPECTED)
    if not isinstance(top, dict):
        raise UserError(f"not promptfoo results: the file holds a JSON {_kind(top)}",
                        file=shown, line=1, hint=EXPECTED)
    base: tuple[str, ...] = ("results",)
    summary = top.get("results")
    if isinstance(summary, list) and "version" in top:  # the summary on its own
        summary, base, top = top, (), {}
    if not isinstance(summary, dict) or not isinstance(summary.get("results"), list):
        raise UserError("not promptfoo results: no list of results at `results.results`",
                        file=shown, line=json_line(text, base), hint=EXPECTED)
    version = summary.get("version")
    if version not in VERSIONS:
        raise UserError(f"promptfoo results version {version!r}: promptctl reads versions "
                        f"{' and '.join(map(str, VERSIONS))}", file=shown,
                        line=json_line(text, (*base, "version")),
                        hint="export the eval again with a current promptfoo")
    rows = []
    for i, item in enumerate(summary["results"]):
        if not isinstance(item, dict):
            raise UserError(f"not promptfoo results: result {i + 1} is a JSON "
                            f"{_kind(item)}, not an object", file=shown,
                            line=json_line(text, (*base, "results", i)), hint=EXPECTED)
        rows.append(_row(i + 1, item))
    columns = [p for p in summary.get("prompts") or [] if isinstance(p, dict)]
    keys = [p.get("provider") for p in columns]
    config = top.get("config")
    meta = _dict(top.get("metadata"))
    repeat = _dict(top.get("runtimeOptions")).get("repeat")
    return Results(shown, version, rows, config if isinstance(config, dict) else None,
                   list(dict.fromkeys(k for k in keys if isinstance(k, str))), len(columns),
                   repeat if isinstance(repeat, int) and repeat >= 1 else None,
                   _text(top.get("evalId")), _text(summary.get("timestamp")),
                   _text(meta.get("promptfooVersion")))


def _row(n: int, item: dict[str, Any]) -> Row:
    prompt = _dict(item.get("prompt"))
    named = item.get("provider")
    provider = {"id": named} if isinstance(named, str) else _dict(named)
    vars_ = item.get("vars") if isinstance(item.get("vars"), dict) else \
        _dict(item.get("testCase")).get("vars")
    return Row(n, _index(item.get("testIdx")), _index(item.get("promptIdx")),
               _text(prompt.get("label")), _text(prompt.get("raw")),
               _text(provider.get("id")), _text(provider.get("label")) or None,
               vars_ if isinstance(vars_, dict) else {}, _given(item))


def _given(item: dict[str, Any]) -> Given:
    """The call's completion, or its error when promptfoo got no output."""
    response = _dict(item.get("response"))
    if response.get("error"):
        return Given(None, _error(response["error"]))
    output = response.get("output")
    if output is None:
        return Given(None, _error(item.get("error") or "No output"))
    text = output if isinstance(output, str) else json.dumps(
        output, ensure_ascii=False, separators=(",", ":"))  # as JSON.stringify writes it
    usage = _dict(response.get("tokenUsage"))
    latency = item.get("latencyMs", response.get("latencyMs"))
    cost = item.get("cost", response.get("cost"))
    return Given(Completion(text=text, prompt_tokens=_count(usage.get("prompt")),
                            completion_tokens=_count(usage.get("completion")),
                            latency_ms=_number(latency), cost=_number(cost)))


def _error(value: Any) -> str:
    """promptfoo's error, its first line (promptfoo appends the stack trace)."""
    lines = str(value).strip().splitlines() or ["no output"]
    first = lines[0] if len(lines[0]) <= 500 else lines[0][:499] + "…"
    return f"promptfoo: {first}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _index(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


def _count(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and value >= 0 else 0


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and value >= 0 else 0.0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _kind(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def short(text: str | None) -> str:
    if text is None:
        return "(none)"
    one = " ".join(text.split())
    return repr(one if len(one) <= 50 else one[:49] + "…")



def messages(text: str) -> list[dict[str, str]]:
    """What promptfoo sends for a rendered prompt: a JSON list of {role, content} is
    those messages, any other text one user message."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except ValueError:
            value = None
        if isinstance(value, list) and value and all(
                isinstance(m, dict) and "role" in m and "content" in m for m in value):
            return [{"role": str(m["role"]), "content": str(m["content"])} for m in value]
    return [{"role": "user", "content": text}]

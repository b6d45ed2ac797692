"""The shapes of the files promptctl writes and reads back: baselines/<suite>.json and a
run folder's meta.json, summary.json, records.jsonl and batches.json (batch mode).

These files are promptctl's own output, but they are committed, downloaded as CI
artifacts, merged by git and edited by hand, so they are read as strictly as anything a
user writes: every model forbids unknown keys and takes JSON types as they are (no
"1" for 1, no 1 for true). A file of the wrong shape is a UserError (exit 2) that names
`file:line` of the offending value, never a crash further down.

The fast path is `json.loads` and one validation; only when that fails is the text
scanned again (`json_line`) to find the line of the value the error is about. JSON's
own syntax errors carry their line already. A UTF-8 BOM is accepted (editors on
Windows add one), CRLF line ends are JSON whitespace anyway.

Compatibility: the models accept every file promptctl has written (the baselines'
`latency_ms` is optional: newer baselines leave timings to the run records; a sample's
`tool_calls` and `turns` are optional: older baselines have none).
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from .errors import UserError
from .results import CallRecord
from .schema import Model, parse_shard

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]

BASELINE_VERSION = 1
SHOWN = 60  # characters of a value quoted in a message


class Shape(Model):
    """JSON as written: unknown keys and coerced types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


# -- baselines/<suite>.json -------------------------------------------------------------

class BaselineAssertion(Shape):
    type: str
    passed: bool
    score: float
    metric: str | None = None


class BaselineToolCall(Shape):
    """What a baseline keeps of a tool call (gate/calls.kept_call)."""

    name: str
    arguments: Any = None
    raw: str | None = None  # only for arguments that were not JSON


class BaselineTurn(Shape):
    output: str
    tool_calls: list[BaselineToolCall] = Field(default_factory=list)


class BaselineSample(Shape):
    output: str
    passed: bool
    score: float
    assertions: list[BaselineAssertion]
    tokens: dict[str, int] = Field(default_factory=dict)
    latency_ms: float | None = None  # written by earlier versions; not read
    # absent without tools or turns (and in baselines written before them)
    tool_calls: list[BaselineToolCall] = Field(default_factory=list)
    turns: list[BaselineTurn] | None = None


class BaselineCell(Shape):
    fingerprint: dict[str, Any]
    passed: bool  # derived from the samples: read for its shape only
    samples: list[BaselineSample]


class BaselineSummary(Shape):
    cases: int
    passed: int
    failed: int


class BaselineFile(Shape):
    version: int
    suite: str
    cases: dict[str, dict[str, dict[str, BaselineCell]]]
    summary: BaselineSummary | None = None  # derived: read for its shape only


# -- a run folder ---------------------------------------------------------------------

def _shard(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_shard(value)
        except UserError as exc:
            raise ValueError(f"bad shard {value!r}: write I/N with 1 <= I <= N") from exc
    return value


class MetaOptions(Shape):
    models: list[str] = Field(default_factory=list)
    repeat: int | Literal["auto"] | None = None
    max_repeat: int | None = None
    seed_offset: int | None = None
    filter: str | list[str] | None = None  # one -k as text, several as a list
    use_cache: bool | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    shard: str | None = None
    perturb: bool | None = None  # false: --no-perturb (absent: the variants ran)
    batch: bool | None = None  # true: --batch (plan-neutral: how the calls were sent)

    _check_shard = field_validator("shard")(_shard)


class MergedFrom(Shape):
    run_id: str
    path: str
    shard: str | None = None
    records: int


class Budget(Shape):
    """A run's spend limits (run/budget.py)."""

    max_cost: float | None = None
    max_tokens: int | None = None


class Resumed(Shape):
    at: str
    kept: int
    retry_errors: bool
    budget: Budget | None = None  # the limits this resume ran under


class ImportedFrom(Shape):
    """A run made of another tool's outputs (`import promptfoo-results`)."""

    tool: str
    file: str
    results: int  # in the file
    unmatched: int  # of those, not matched to a planned call
    eval_id: str | None = None
    timestamp: str | None = None
    version: str | None = None  # of the tool


class RunMeta(Shape):
    run_id: str
    started: str
    suites: list[str]
    calls: int
    options: MetaOptions
    partial: bool | None = None
    only: list[Annotated[list[str], Field(min_length=4, max_length=4)]] | None = None
    command: str | None = None  # `check` runs: the policy a resume replays
    alpha: float | None = None
    merged_from: list[MergedFrom] | None = None
    resumed: list[Resumed] | None = None
    imported_from: ImportedFrom | None = None
    budget: Budget | None = None  # the limits a run started with (run/budget.py)


class BatchCounts(Shape):
    total: int = 0
    completed: int = 0
    failed: int = 0


class BatchEntry(Shape):
    """One submitted input file of a run (run/batch.py). `id` is null only between the
    upload and batches.create: a resume then looks the batch up by its input file."""

    id: str | None
    model: str  # the model alias
    input_file_id: str
    custom_ids: list[str]  # the calls it carries (run/batch.custom_id of each key)
    status: str
    request_counts: BatchCounts = Field(default_factory=BatchCounts)
    created: str
    finished: str | None = None
    collected: bool = False  # every call of it has its record: never collected again
    output_file_id: str | None = None
    error_file_id: str | None = None
    error: str | None = None  # why a failed batch failed (its errors' first message)


class BatchesFile(Shape):
    """A run folder's batches.json: written at once on every submission and change."""

    version: int
    batches: list[BatchEntry]


class RunSummary(Shape):
    run_id: str
    started: str
    finished: str
    summary: dict[str, Any]
    timing: dict[str, Any] | None = None  # where the time went (run/timing.py)


class RecordAssertion(Shape):
    type: str
    passed: bool
    score: float
    reason: str = ""
    weight: float = 1.0
    metric: str | None = None


def dataclass_shape(cls: type, name: str, overrides: dict[str, Any] | None = None, *,
                    base: type[BaseModel] = Shape) -> type[BaseModel]:
    """A model with a dataclass's own fields, types and defaults, so the two cannot
    drift apart (a field added to the dataclass is accepted here at once)."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        hint = (overrides or {}).get(f.name, hints[f.name])
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (hint, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (hint, Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (hint, ...)
    model: type[BaseModel] = create_model(name, __base__=base, **fields)
    return model


class Lenient(Shape):
    """For cache entries: other promptctl versions may have stored other fields."""

    model_config = ConfigDict(extra="ignore", strict=True)


# one records.jsonl line: a CallRecord
RunRecord = dataclass_shape(CallRecord, "RunRecord", {"assertions": list[RecordAssertion],
                                                    "tags": list[str]})


# -- reading --------------------------------------------------------------------------

def line_at(data: bytes | str, offset: int) -> int:
    newline = b"\n" if isinstance(data, bytes) else "\n"
    return data.count(newline, 0, offset) + 1  # type: ignore[arg-type]


def decode(data: bytes, file: str, what: str, hint: str) -> str:
    """UTF-8 text (a leading BOM dropped); anything else is exit 2 at its line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x})",
                        file=file, line=line_at(data, exc.start), hint=hint) from None


def parse_json(text: str, file: str, what: str, hint: str, *, line: int | None = None
               ) -> Any:
    """json.loads; a syntax error names its line (or `line`, for one line of a file)."""
    if not text.strip():
        raise UserError(f"{what} is empty", file=file,
                        line=line or line_at(text, len(text)), hint=hint)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"invalid JSON in {what}: {exc.msg}", file=file,
                        line=line or exc.lineno, hint=hint) from None
    except RecursionError:
        raise UserError(f"invalid JSON in {what}: nested too deeply", file=file,
                        line=line or 1, hint=hint) from None


def validate(model: type[M], data: Any, text: str, file: str, what: str, hint: str, *,
             line: int | None = None) -> M:
    """The data as `model`; the first error names the line of the value it is about
    (`line` for a one-line document such as a records.jsonl line)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        loc, message = describe(exc, data)
        where = line if line is not None else json_line(text, loc)
        raise UserError(f"malformed {what}: {message}", file=file, line=where,
                        hint=hint) from None


def load_json(path: Path, model: type[M], file: str, what: str, hint: str) -> tuple[M, Any]:
    """Read, decode, parse and validate one JSON file: (the model, the plain data)."""
    doc, value, _ = read_json(path, model, file, what, hint)
    return doc, value


def read_json(path: Path, model: type[M], file: str, what: str, hint: str
              ) -> tuple[M, Any, str]:
    """load_json, and the decoded text: for a caller that names lines (json_line)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {what}: {exc.strerror}", file=file, hint=hint) from None
    text = decode(data, file, what, hint)
    value = parse_json(text, file, what, hint)
    return validate(model, value, text, file, what, hint), value, text


# -- messages -------------------------------------------------------------------------

_EXPECTED = {
    "string_type": "a string", "bool_type": "true or false", "float_type": "a number",
    "int_type": "a whole number", "int_from_float": "a whole number",
    "dict_type": "an object", "model_type": "an object", "model_attributes_type":
    "an object", "list_type": "a list", "none_required": "null",
    "literal_error": "'auto'",
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def shown(value: Any) -> str:
    """A value as a message quotes it: short, one line."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def loc_text(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.fullmatch(part):
            out += f".{part}" if out else part
        else:
            key = json.dumps(part, ensure_ascii=False)
            out += f"[{key if len(key) <= SHOWN else key[: SHOWN - 1] + '…'}]"
    return out


def _in_data(data: Any, loc: Sequence[str | int]) -> tuple[Loc, bool]:
    """The part of pydantic's loc that names values in data (union members and
    validator names are dropped), and whether all of it did."""
    here = data
    out: list[str | int] = []
    for part in loc:
        if not _has(here, part):
            return tuple(out), False
        here = here[part]
        out.append(part)
    return tuple(out), True


def _has(value: Any, part: str | int) -> bool:
    if isinstance(value, dict):
        return isinstance(part, str) and part in value
    return isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)


def describe(exc: ValidationError, data: Any) -> tuple[Loc, str]:
    """(where in the data, message) for the first error; the members of a union
    that failed at the same place are named together ("a string or null")."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    kind = first["type"]
    if kind == "missing":  # a typo is both a missing key and an unknown one: say the latter
        typo = next((e for e in errors if e["type"] == "extra_forbidden"
                     and e["loc"][:-1] == first["loc"][:-1]), None)
        if typo is not None:
            loc, message = describe_one(typo, data)
            return loc, f"{message} (expected '{first['loc'][-1]}')"
    return describe_one(first, data, errors)


def describe_one(first: Any, data: Any, errors: Sequence[Any] = ()) -> tuple[Loc, str]:
    kind = first["type"]
    if kind == "missing":
        parent, _ = _in_data(data, first["loc"][:-1])
        key = first["loc"][len(parent)] if len(first["loc"]) > len(parent) else "?"
        return parent, f"missing required key '{key}'" + (
            f" in {loc_text(parent)}" if parent else "")
    loc, _ = _in_data(data, first["loc"])
    where = loc_text(loc)
    if kind == "extra_forbidden":
        outer = loc_text(loc[:-1])
        return loc, f"unknown key '{loc[-1]}'" + (f" in {outer}" if outer else "")
    here: Any = data
    for part in loc:
        here = here[part]
    expected = []
    for err in errors or [first]:
        if _in_data(data, err["loc"])[0] == loc and err["type"] in _EXPECTED:
            expected.append(_EXPECTED[err["type"]])
    if expected:
        text = " or ".join(dict.fromkeys(expected))
        message = f"expected {text}, got {shown(here)}"
    else:
        message = first["msg"].removeprefix("Value error, ")
        if kind in ("too_short", "too_long") and isinstance(here, list):
            message = f"has {len(here)} items, {message.split(' after ')[0].lower()}"
    return loc, (f"{where}: {message}" if where else message)


# -- finding a value's line -------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")


def json_line(text: str, loc: Sequence[str | int]) -> int:
    """The line of the value at `loc` in the JSON text (of its nearest ancestor where
    the path ends early). The text is valid JSON: json.loads read it."""
    decoder = json.JSONDecoder()
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    for part in loc:
        found = _child(text, pos, part, decoder)
        if found is None:
            break
        pos = found
    return line_at(text, pos)


def _child(text: str, pos: int, part: str | int, decoder: json.JSONDecoder) -> int | None:
    """The offset of `part` inside the object or array that starts at pos. A key that
    appears twice is the last one (as json.loads keeps it)."""
    opening = text[pos] if pos < len(text) else ""
    if opening not in "{[" or isinstance(part, int) != (opening == "["):
        return None
    closing = "}" if opening == "{" else "]"
    found = None
    index = 0
    i = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
    if text.startswith(closing, i):
        return None
    while True:
        if opening == "{":
            key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
            i = _WS.match(text, i).end() + 1  # type: ignore[union-attr]  # the ':'
            i = _WS.match(text, i).end()  # type: ignore[union-attr]
            if key == part:
                found = i
        elif index == part:
            return i
        _, i = decoder.raw_decode(text, i)
        index += 1
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if text.startswith(closing, i):
            return found
        i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]  # after the ','


# -- labels-<run>.json (the review page's download, read by `review import`) ------------

LABELS_VERSION = 1
LABELS_KIND = "promptctl-labels"
LABELS_MAX_BYTES = 64 * 1024 * 1024  # a bigger file is refused before it is read


class LabelEntry(Shape):
    """One label; the values' own rules (verdict, `at`, sha256, score's range) are
    checked by gate/review_import.py, which says them in words."""

    suite: str
    case: str
    prompt: str
    model: str
    output_sha256: str
    output: str
    verdict: str
    by: str
    at: str
    score: float | None = None
    note: str | None = None


class LabelsFile(Shape):
    version: int
    kind: str
    run: str
    labels: list[LabelEntry]

"""Baselines: the reviewed record of how each suite behaves, committed in git.

`baselines/<suite>.json` holds, per (case, prompt, model): every repeat's output,
each assertion's pass and score, tokens, and a fingerprint (rendered prompt hash, model
identity, generation params). It holds what a review needs and nothing that varies
from run to run: no timestamps, no timings (a `latency` assertion's verdict is kept;
the milliseconds stay in the run records), so an update without a change in behaviour
rewrites the file byte for byte. The JSON is deterministic (sorted keys, one value per
line) so a pull request shows a readable diff, and it is written atomically so an
interrupted update never leaves half a file. Baselines written before, with a
`latency_ms` per sample, are still read.

A sample that called tools keeps its `tool_calls` (name and arguments: gate/calls.py
says what of a call is kept), a conversation its `turns` (each turn's text and calls);
both keys are absent when there are none, so a suite without tools writes the bytes it
always wrote, and a baseline written before tools existed reads as having none. A
cell's `outputs` are what its samples said as a review reads it (calls and turns
included), so a changed tool call is a changed output exactly as a changed text is.

A cell's fingerprint is its first sample's, but for `served` (what a hosted endpoint
said it ran), which speaks for all its samples (served_of). A baseline written before
promptctl recorded `served` has none: a check then reports no change of it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..boundary import display_path
from ..errors import UserError
from ..results import CallRecord, SuiteCellKey
from ..run.store import write_json_atomic
from .calls import kept_call, kept_turn, shown

VERSION = 1


@dataclass
class Sample:
    output: str
    passed: bool
    score: float
    assertions: list[dict[str, Any]]
    tokens: dict[str, int] = field(default_factory=dict)
    latency_ms: float = 0.0  # read from baselines written before; never written
    # kept_call()s of the reply scored (the last turn's in a conversation)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    turns: list[dict[str, Any]] | None = None  # kept_turn()s of a conversation

    @property
    def shown(self) -> str:
        """What the sample said as one text: its text, calls and turns (calls.shown)."""
        return shown(self.output, self.tool_calls, self.turns)

    def to_dict(self) -> dict[str, Any]:
        """What the baseline file keeps: behaviour only (no latency: timing noise)."""
        data: dict[str, Any] = {"output": self.output, "passed": self.passed,
                                "score": round(self.score, 6),
                                "assertions": self.assertions, "tokens": self.tokens}
        if self.tool_calls:
            data["tool_calls"] = self.tool_calls
        if self.turns is not None:
            data["turns"] = self.turns
        return data


@dataclass
class Cell:
    """All samples of one (case, prompt, model), in repeat order."""

    fingerprint: dict[str, Any]
    samples: list[Sample]

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.samples)

    @property
    def pass_count(self) -> int:
        return sum(s.passed for s in self.samples)

    @property
    def score(self) -> float:
        return sum(s.score for s in self.samples) / len(self.samples) if self.samples else 0.0

    @property
    def outputs(self) -> list[str]:
        """What each sample said, as a review reads it (Sample.shown): the text alone
        for a sample without tool calls or turns."""
        return [s.shown for s in self.samples]

    def assertion_scores(self) -> dict[int, tuple[str, float, bool, str | None]]:
        """Per assertion index: (type, mean score, passed in every sample, metric)."""
        out: dict[int, tuple[str, float, bool, str | None]] = {}
        n = len(self.samples)
        for i, first in enumerate(self.samples[0].assertions if self.samples else []):
            scores = [s.assertions[i]["score"] for s in self.samples if i < len(s.assertions)]
            passed = all(s.assertions[i]["passed"] for s in self.samples
                         if i < len(s.assertions))
            out[i] = (first["type"], sum(scores) / max(1, n), passed, first.get("metric"))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "passed": self.passed,
                "samples": [s.to_dict() for s in self.samples]}


@dataclass
class Baseline:
    suite: str
    cells: dict[SuiteCellKey, Cell]
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        nested: dict[str, dict[str, dict[str, Any]]] = {}
        for (case, prompt, model), cell in self.cells.items():
            nested.setdefault(case, {}).setdefault(prompt, {})[model] = cell.to_dict()
        passed = sum(c.passed for c in self.cells.values())
        return {"version": VERSION, "suite": self.suite, "cases": nested,
                "summary": {"cases": len(self.cells), "passed": passed,
                            "failed": len(self.cells) - passed}}


def sample_from_record(rec: CallRecord) -> Sample:
    assertions = []
    for a in rec.assertions:
        item: dict[str, Any] = {"type": a.type, "passed": a.passed, "score": round(a.score, 6)}
        if a.metric:
            item["metric"] = a.metric
        assertions.append(item)
    return Sample(output=rec.output or "", passed=rec.passed, score=rec.score,
                  assertions=assertions, tokens=dict(rec.tokens),
                  tool_calls=[kept_call(c) for c in rec.tool_calls],
                  turns=None if rec.turns is None else [kept_turn(t) for t in rec.turns])


def cells_from_records(records: Iterable[CallRecord]) -> dict[str, dict[SuiteCellKey, Cell]]:
    """Group a run's records by suite and cell, samples in repeat order."""
    grouped: dict[str, dict[SuiteCellKey, list[CallRecord]]] = {}
    for rec in records:
        grouped.setdefault(rec.suite, {}).setdefault((rec.case, rec.prompt, rec.model),
                                                     []).append(rec)
    out: dict[str, dict[SuiteCellKey, Cell]] = {}
    for suite, cells in grouped.items():
        out[suite] = {}
        for key, recs in cells.items():
            recs.sort(key=lambda r: r.repeat)
            out[suite][key] = Cell(fingerprint=cell_fingerprint(recs),
                                   samples=[sample_from_record(r) for r in recs])
    return out


def cell_fingerprint(recs: list[CallRecord]) -> dict[str, Any]:
    """The fingerprint of a cell's samples (in repeat order): the first one's, whose
    `served` (what a hosted endpoint said it ran) speaks for all of them: see
    served_of."""
    first = recs[0].fingerprint
    served = served_of([r.fingerprint.get("served") for r in recs])
    if served == first.get("served"):
        return first
    fingerprint = {k: v for k, v in first.items() if k != "served"}
    if served is not None:
        fingerprint["served"] = served
    return fingerprint


def served_of(reported: Iterable[Any]) -> dict[str, Any] | None:
    """One `served` for the samples of a cell, from what each call's endpoint said
    (None for a call that said nothing). The samples may disagree: OpenAI rotates
    system_fingerprints between the machines that answer, and an alias may move in the
    middle of a run. The cell keeps the model most of them named and, of the samples
    of that model, the most frequent system_fingerprint (a tie goes to the smaller
    string, so the same answers always give the same cell); when they reported more
    than one, `system_fingerprints` lists them all, sorted, so that a check reports a
    fingerprint only when it is one the baseline never saw (gate/diff.served_change)."""
    seen = [r for r in reported if isinstance(r, dict) and r.get("model")]
    if not seen:
        return None
    model = _most_common([str(r["model"]) for r in seen])
    fps = [str(r["system_fingerprint"]) for r in seen
           if str(r["model"]) == model and r.get("system_fingerprint")]
    served: dict[str, Any] = {"model": model,
                              "system_fingerprint": _most_common(fps) if fps else None}
    if len(set(fps)) > 1:
        served["system_fingerprints"] = sorted(set(fps))
    return served


def _most_common(values: list[str]) -> str:
    counts = Counter(values)
    return min(counts, key=lambda v: (-counts[v], v))


def baseline_path(baselines_dir: Path, suite: str) -> Path:
    return baselines_dir / f"{suite}.json"


def write_baseline(path: Path, baseline: Baseline) -> None:
    write_json_atomic(path, baseline.to_dict())


def load_baseline(path: Path) -> Baseline | None:
    """The baseline at path, None when there is none; a file that is not a baseline of
    this version (see artifacts.BaselineFile) is exit 2 naming the offending line."""
    if not path.is_file():
        return None
    name = display_path(path)
    hint = (f"regenerate it with `promptctl baseline update {path.stem}`, or fix or "
            "delete the file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read baseline: {exc.strerror}", file=name, hint=hint) from None
    baseline = parse_baseline(data, name, hint)
    baseline.path = path
    return baseline


def parse_baseline(data: bytes, name: str, hint: str) -> Baseline:
    """A baseline file's bytes (from disk, or from git at some commit: `history --git`)
    as a Baseline; `name` is what a message calls the file. Anything that is not a
    baseline of this version is a UserError naming its line."""
    # deferred: the pydantic shapes of artifacts.py are built on the first read
    from ..artifacts import BaselineFile, decode, json_line, parse_json, validate

    what = "baseline"
    text = decode(data, name, what, hint)
    value = parse_json(text, name, what, hint)
    if isinstance(value, dict) and "version" in value and value["version"] != VERSION:
        raise UserError(f"unsupported baseline version {value['version']!r}: this promptctl "
                        f"reads version {VERSION}", file=name,
                        line=json_line(text, ("version",)),
                        hint=f"it was written by another promptctl version: {hint}")
    doc = validate(BaselineFile, value, text, name, what, hint)
    cells: dict[SuiteCellKey, Cell] = {}
    for case, prompts in doc.cases.items():
        for prompt, models in prompts.items():
            for model, cell in models.items():
                if not cell.samples:
                    raise UserError(
                        f"malformed baseline: case '{case}' (prompt {prompt}, model "
                        f"{model}) has no samples", file=name,
                        line=json_line(text, ("cases", case, prompt, model, "samples")),
                        hint=hint)
                samples = [Sample(output=s.output, passed=s.passed, score=s.score,
                                  assertions=[a.model_dump(exclude_none=True)
                                              for a in s.assertions],
                                  tokens=dict(s.tokens),
                                  tool_calls=[kept_call(c.model_dump())
                                              for c in s.tool_calls],
                                  turns=None if s.turns is None else
                                  [kept_turn(t.model_dump()) for t in s.turns])
                           for s in cell.samples]
                cells[(case, prompt, model)] = Cell(cell.fingerprint, samples)
    return Baseline(suite=doc.suite, cells=cells)

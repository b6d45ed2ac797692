"""`-o results.xml`: JUnit XML, one testcase per case x prompt x model.

A failing cell is a <failure> carrying every failing assertion's reason; a call that
errored is an <error>; in a check, a case that was already failing in the baseline is
<skipped> (the ratchet: not a regression), as is one removed from the suite. With
repeats, a cell's testcase covers all its samples. A case's metadata and tags are its
testcase's <properties> (`metadata.KEY`, one `tag` each), as pytest's record_property
writes them; so is a reviewer's label from reviews/ (`review.verdict`, `review.state`,
`review.by`, `review.note`, and `review.disagreement`: gap or strict).

A record's tool calls are part of its output: `get_weather({"city":"Paris"})` in its
<system-out> and failure text, a conversation one line per turn (gate/calls.py).
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..gate.calls import shown
from ..load.filters import rendered

if TYPE_CHECKING:
    from ..gate.labels import LabelView
    from ..gate.outcome import CellDiff
    from ..results import CallRecord, CellKey
    from .data import ReportData

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    """XML 1.0 cannot carry control characters, whatever a model emits."""
    return _CONTROL.sub("\ufffd", text)


def case_properties(metadata: Mapping[str, Any], tags: Sequence[str]
                    ) -> list[tuple[str, str]]:
    """(name, value) of a case's properties: `metadata.KEY` as -k reads the value, and
    one `tag` per tag."""
    return [*((f"metadata.{k}", rendered(v)) for k, v in metadata.items()),
            *(("tag", t) for t in tags)]


def _name(case: str, prompt: str, model: str, matrix: bool) -> str:
    return f"{case}[{prompt}@{model}]" if matrix else case


def _failure_text(records: list[CallRecord]) -> tuple[str, str]:
    """(a one-line message, the full text with outputs and reasons)."""
    reasons: list[str] = []
    lines: list[str] = []
    for r in records:
        failing = [f"{a.type}: {a.reason}" for a in r.assertions if not a.passed]
        reasons.extend(failing)
        if failing or not r.passed:
            lines.append(f"repeat {r.repeat}: output: {r.output!r}")
            if r.turns is not None:
                lines.extend(f"  {line}" for line in shown(r.output, r.tool_calls,
                                                           r.turns).split("\n"))
            elif r.tool_calls:
                lines.append(f"  tool calls: {shown(None, r.tool_calls, None)}")
            lines.extend(f"  {x}" for x in failing)
    unique = list(dict.fromkeys(reasons))
    message = unique[0] if len(unique) == 1 else \
        f"{len(unique)} failing assertions: " + "; ".join(unique)
    return message or "score below the case threshold", "\n".join(lines)


COUNTS = ("tests", "failures", "errors", "skipped")  # per testsuite, and summed on the root
COUNTED_AS = {"failure": "failures", "error": "errors", "skipped": "skipped"}


def junit_xml(data: ReportData) -> str:
    cells: dict[CellKey, list[CallRecord]] = {}
    for r in data.records:
        cells.setdefault(r.cell, []).append(r)
    diffs: dict[CellKey, CellDiff] = {}
    if data.diff is not None:
        diffs = {(c.suite, c.case, c.prompt, c.model): c for c in data.diff.cells()}
    keys = list(dict.fromkeys([*cells, *diffs]))

    root = ET.Element("testsuites", name="promptctl")
    totals = dict.fromkeys(COUNTS, 0)
    total_time = 0.0
    for suite in dict.fromkeys(k[0] for k in keys):
        counts, seconds = _testsuite(root, suite, [k for k in keys if k[0] == suite],
                                     cells, diffs, data)
        for k in totals:
            totals[k] += counts[k]
        total_time += seconds
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _testsuite(root: ET.Element, suite: str, keys: list[CellKey],
               cells: dict[CellKey, list[CallRecord]], diffs: dict[CellKey, CellDiff],
               data: ReportData) -> tuple[dict[str, int], float]:
    """One suite's <testsuite>, with its counts and seconds."""
    counts = dict.fromkeys(COUNTS, 0)
    suite_time = 0.0
    element = ET.SubElement(root, "testsuite", name=suite)
    props = ET.SubElement(element, "properties")
    ET.SubElement(props, "property", name="run_id", value=data.run_id or "")
    matrix = len({(k[2], k[3]) for k in keys}) > 1  # name testcases case[prompt@model]
    labels = data.cell_labels()
    for key in keys:
        records = sorted(cells.get(key, []), key=lambda r: r.repeat)
        seconds = sum(r.latency_ms for r in records) / 1000
        suite_time += seconds
        tag = _testcase(element, key, records, diffs.get(key), matrix, seconds,
                        labels.get(key))
        counts["tests"] += 1
        if tag is not None:
            counts[COUNTED_AS[tag]] += 1
    element.set("tests", str(counts["tests"]))
    for k in ("failures", "errors", "skipped"):
        element.set(k, str(counts[k]))
    element.set("time", f"{suite_time:.3f}")
    element.set("timestamp", (data.started or "")[:19])
    element.set("hostname", socket.gethostname())
    return counts, suite_time


def review_properties(view: LabelView | None) -> list[tuple[str, str]]:
    """(name, value) of a reviewer's label on the cell's output."""
    if view is None or view.label is None:
        return []
    props = [("review.verdict", view.label.verdict), ("review.state", view.state),
             ("review.by", view.label.by)]
    if view.disagreement is not None:
        props.append(("review.disagreement", view.disagreement))
    if view.label.note:
        props.append(("review.note", view.label.note))
    return props


def _testcase(element: ET.Element, key: CellKey, records: list[CallRecord],
              diff: CellDiff | None, matrix: bool, seconds: float,
              view: LabelView | None = None) -> str | None:
    """One cell's <testcase>; returns its failure, error or skipped tag (None: passed)."""
    suite, case, prompt, model = key
    tc = ET.SubElement(element, "testcase", classname=suite,
                       name=_name(case, prompt, model, matrix), time=f"{seconds:.3f}")
    props = case_properties(records[0].metadata, records[0].tags) if records else []
    props += review_properties(view)
    if props:
        holder = ET.SubElement(tc, "properties")
        for name, value in props:
            ET.SubElement(holder, "property", name=_clean(name), value=_clean(value))
    outcome = _outcome(records, diff)
    if outcome is not None:
        tag, message, text = outcome
        child = ET.SubElement(tc, tag, message=_clean(message))
        if tag != "skipped":
            child.set("type", "regression" if diff is not None else tag)
        child.text = _clean(text) if text else None
    if records:
        out = ET.SubElement(tc, "system-out")
        out.text = _clean("\n".join(shown(r.output, r.tool_calls, r.turns) for r in records))
    return outcome[0] if outcome is not None else None


def _outcome(records: list[CallRecord], diff: CellDiff | None
             ) -> tuple[str, str, str] | None:
    """(failure|error|skipped, message, text), or None for a passing testcase."""
    errors = [r.error for r in records if r.error]
    if errors:
        return "error", errors[0], "\n".join(dict.fromkeys(errors))
    if diff is not None:
        if diff.status == "removed":
            return "skipped", "removed from the suite (kept in the baseline)", ""
        if diff.status in ("broken",):
            message, text = _failure_text(records)
            return "failure", f"regression: {message}", text
        if diff.status == "failing":
            return "skipped", "still failing: it failed in the baseline too, so it is not "\
                              "a regression", _failure_text(records)[1]
        return None
    if all(r.passed for r in records):
        return None
    message, text = _failure_text(records)
    return "failure", message, text

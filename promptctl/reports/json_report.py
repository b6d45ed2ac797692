"""`-o FILE.json`: the one document scripts rely on (additions fine, renames not).

Each result carries its `tool_calls` ([] when none: CallRecord.tool_calls) and its
`turns` (null but for a conversation: CallRecord.turns)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..run.store import write_text_atomic

if TYPE_CHECKING:
    from .data import ReportData

VERSION = 1
PUBLIC_KEYS = ("suite", "case", "prompt", "model", "repeat", "output", "passed", "score",
               "assertions", "latency_ms", "tokens", "cost", "cached", "error", "retries")


def document(result: ReportData) -> dict[str, Any]:
    records = result.records  # in plan order: the order of the suite files
    results = []
    for rec in records:
        data = rec.to_dict()
        entry = {k: data[k] for k in PUBLIC_KEYS}
        entry["messages"] = data["messages"]
        entry["params"] = data["params"]
        entry["fingerprint"] = data["fingerprint"]
        entry["tool_calls"] = rec.tool_calls
        entry["turns"] = rec.turns
        entry["metadata"] = rec.metadata  # the case's ({} when it has none)
        entry["tags"] = list(rec.tags)
        view = result.labels.get(rec.key)
        if view is not None and view.label is not None:  # a reviewer's, from reviews/
            entry["label"] = view.to_dict()
        results.append(entry)
    doc = {"version": VERSION, "run_id": result.run_id, "started": result.started,
           "finished": result.finished, "summary": result.summary.to_dict(),
           "results": results}
    if result.timing is not None:  # a run made now: where its time went
        doc["timing"] = result.timing
    return doc


def write_json(path: Path, result: ReportData) -> None:
    """Indented, with one result a line: readable, greppable, and written by json's C
    encoder (indenting every result goes through its pure-Python one: 5x slower)."""
    doc = document(result)
    results = doc.pop("results")
    head = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)
    lines = ",\n".join("    " + json.dumps(r, sort_keys=True, ensure_ascii=False)
                       for r in results)
    body = f'  "results": [\n{lines}\n  ]' if results else '  "results": []'
    write_text_atomic(path, f"{head[:-2]},\n{body}\n}}\n")


def write_jsonl(path: Path, result: ReportData) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for entry in document(result)["results"]:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")

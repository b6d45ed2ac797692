"""`-o FILE.json`: the one document scripts rely on (additions fine, renames not)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..store import write_json_atomic

if TYPE_CHECKING:
    from . import ReportData

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
        results.append(entry)
    return {"version": VERSION, "run_id": result.run_id, "started": result.started,
            "finished": result.finished, "summary": result.summary.to_dict(),
            "results": results}


def write_json(path: Path, result: ReportData) -> None:
    write_json_atomic(path, document(result))


def write_jsonl(path: Path, result: ReportData) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for entry in document(result)["results"]:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")

"""`promptctl score -o FILE`: the one place the output formats of `score` are chosen.

    .json   the history document (kind "score", source "logs": one point per window,
            each with its "distribution"; the contract of gate/score.py)
    .html   that document drawn: the page of reports/history_html (windows as points)
    .jsonl  one line per scored log line: its line number, id, window, time, case,
            logged model, status (pass, fail, error), score, assertions and error; the
            output itself is not repeated (it is in the log)

DOCUMENTS maps an extension to a function of the document alone; LINES are the
extensions written while the log is read.

Invariants: every file is written whole or not at all (temp file + rename; a .jsonl is
streamed to its temp file and renamed when scoring ends, removed if it fails).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..results import CallRecord
from ..run.logs import LogLine
from ..run.store import write_text_atomic


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _html(doc: dict[str, Any]) -> str:
    from .history_html import render_html  # the page: only when one is asked for

    return render_html(doc)


DOCUMENTS: dict[str, Callable[[dict[str, Any]], str]] = {
    ".json": _json,
    ".html": _html,  # the history page draws this same document
}
LINES = (".jsonl",)
FORMATS = (*DOCUMENTS, *LINES)


def write_document(path: Path, doc: dict[str, Any]) -> None:
    write_text_atomic(path, DOCUMENTS[path.suffix.lower()](doc))


def line_json(line: LogLine, record: CallRecord, window: str) -> dict[str, Any]:
    return {"line": line.line, "id": line.id, "window": window,
            "time": line.time.isoformat() if line.time else None, "case": line.case,
            "model": line.model, "status": record.status, "score": record.score,
            "assertions": [a.to_dict() for a in record.assertions],
            "error": record.error}


class LineSink:
    """The .jsonl outputs, written as lines are scored."""

    def __init__(self, paths: list[Path]) -> None:
        self._files: list[tuple[Path, Path, IO[str]]] = []
        for path in paths:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            self._files.append((path, tmp, tmp.open("w", encoding="utf-8")))

    def __bool__(self) -> bool:
        return bool(self._files)

    def write(self, line: LogLine, record: CallRecord, window: str) -> None:
        text = json.dumps(line_json(line, record, window), ensure_ascii=False) + "\n"
        for _, _, fh in self._files:
            fh.write(text)

    def finish(self) -> list[Path]:
        for path, tmp, fh in self._files:
            fh.close()
            tmp.replace(path)
        return [p for p, _, _ in self._files]

    def abort(self) -> None:
        for _, tmp, fh in self._files:
            fh.close()
            tmp.unlink(missing_ok=True)

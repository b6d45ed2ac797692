"""Run artifacts: .promptctl/runs/<run-id>/ with records.jsonl streamed call by call,
meta.json written at the start and summary.json at the end."""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import UserError
from .results import CallRecord

LATEST = "latest"


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, data: Any) -> None:
    """Temp file + rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, ensure_ascii=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


class RunWriter:
    """Streams one JSON line per finished call, flushed at once, so a killed run
    loses at most the calls in flight."""

    def __init__(self, runs_dir: Path, run_id: str | None = None) -> None:
        self.run_id = run_id or new_run_id()
        self.dir = runs_dir / self.run_id
        self.dir.mkdir(parents=True, exist_ok=False)
        self._fh = (self.dir / "records.jsonl").open("a", encoding="utf-8")
        self._lock = threading.Lock()
        (runs_dir / LATEST).write_text(self.run_id + "\n", encoding="utf-8")

    def meta(self, data: dict[str, Any]) -> None:
        write_json_atomic(self.dir / "meta.json", data)

    def write(self, record: CallRecord) -> None:
        line = json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def finish(self, summary: dict[str, Any]) -> None:
        with self._lock:
            self._fh.close()
        write_json_atomic(self.dir / "summary.json", summary)


def resolve_run(runs_dir: Path, run: str | None = None) -> Path:
    """A run directory by id (or unique prefix); the latest run when none is given."""
    if run is None:
        pointer = runs_dir / LATEST
        if not pointer.is_file():
            raise UserError("no runs yet", hint="run `promptctl run` first")
        run = pointer.read_text(encoding="utf-8").strip()
    path = runs_dir / run
    if path.is_dir():
        return path
    matches = [p for p in runs_dir.glob(run + "*") if p.is_dir()] if runs_dir.is_dir() else []
    if len(matches) == 1:
        return matches[0]
    raise UserError(f"no run '{run}'" + (" (ambiguous prefix)" if matches else ""),
                    hint=f"run ids are the folder names in {runs_dir}")


def read_records(run_dir: Path) -> Iterator[CallRecord]:
    """The records of a run. A run killed mid-write can leave one torn last line
    (no trailing newline): it is skipped, since that call never finished."""
    path = run_dir / "records.jsonl"
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield CallRecord.from_dict(json.loads(line))
            except (ValueError, TypeError, KeyError):
                if not line.endswith("\n"):
                    return  # the torn tail of a killed run
                raise UserError("corrupt run record", file=str(path), line=lineno,
                                hint="delete the run folder or re-run") from None

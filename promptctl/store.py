"""Run artifacts: .promptctl/runs/<run-id>/ with records.jsonl streamed call by call,
meta.json written at the start and summary.json at the end."""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import UserError
from .results import CallRecord

try:  # advisory locks: a run being written cannot be resumed by a second process
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LATEST = "latest"
RECORDS = "records.jsonl"
Key = tuple[str, str, str, str, int]  # (suite, case, prompt, model, repeat)


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, data: Any) -> None:
    """Temp file + rename: a reader never sees half a file."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
                      + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


class RunWriter:
    """Streams one JSON line per finished call, flushed at once (or once per batch of
    calls that finished together: `write(..., flush=False)` then `flush()`), so a
    killed run loses at most the calls in flight.

    The records file is locked (flock) while the writer is open, so a second process
    cannot resume a run that is still being written. `append=True` reopens an existing
    run: the torn last line a killed run can leave is cut off first."""

    def __init__(self, runs_dir: Path, run_id: str | None = None, *,
                 append: bool = False) -> None:
        self.run_id = run_id or new_run_id()
        self.dir = runs_dir / self.run_id
        if append:
            if not (self.dir / RECORDS).is_file():
                raise UserError(f"run '{self.run_id}' has no {RECORDS}",
                                file=_shown(self.dir), hint="start a new run")
        else:
            self.dir.mkdir(parents=True, exist_ok=False)
        self._fh = (self.dir / RECORDS).open("a", encoding="utf-8")
        if not _try_lock(self._fh.fileno()):
            self._fh.close()
            raise UserError(f"run '{self.run_id}' is still being written by another "
                            "process", hint="wait for it to finish, or stop it first")
        if append:
            truncate_torn_tail(self.dir / RECORDS)
        self._lock = threading.Lock()
        (runs_dir / LATEST).write_text(self.run_id + "\n", encoding="utf-8")

    @classmethod
    def reopen(cls, run_dir: Path) -> RunWriter:
        """Append to an existing run directory (resume, retry)."""
        return cls(run_dir.parent, run_dir.name, append=True)

    def meta(self, data: dict[str, Any]) -> None:
        write_json_atomic(self.dir / "meta.json", data)

    def write(self, record: CallRecord, *, flush: bool = True) -> None:
        line = json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._fh.write(line + "\n")
            if flush:
                self._fh.flush()

    def flush(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()

    def write_all(self, records: Iterable[CallRecord]) -> None:
        for record in records:
            self.write(record)

    def finish(self, summary: dict[str, Any]) -> None:
        self.close()
        write_json_atomic(self.dir / "summary.json", summary)

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()  # releases the lock too


def _try_lock(fd: int) -> bool:
    if fcntl is None:  # pragma: no cover - Windows: no protection
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def truncate_torn_tail(path: Path) -> int:
    """Cut a last line that has no newline (a write interrupted by a kill), so that
    appended records start on a line of their own. Returns the bytes removed."""
    size = path.stat().st_size
    if not size:
        return 0
    with path.open("rb") as fh:
        keep = size
        chunk = 65536
        while keep > 0:
            start = max(0, keep - chunk)
            fh.seek(start)
            block = fh.read(keep - start)
            if keep == size and block.endswith(b"\n"):
                return 0
            at = block.rfind(b"\n")
            if at >= 0:
                keep = start + at + 1
                break
            keep = start
    os.truncate(path, keep)
    return size - keep


def resolve_run(runs_dir: Path, run: str | None = None) -> Path:
    """A run directory by id (or unique prefix); the latest run when none is given
    (or 'latest')."""
    if run is None or run == LATEST:
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
    """The records of a run as written, in file order. A run killed mid-write can leave
    one torn last line (no trailing newline): it is skipped, since that call never
    finished. A key can appear more than once (a retried error): see `final_records`."""
    path = run_dir / RECORDS
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


def dedupe(records: Iterable[CallRecord]) -> dict[Key, CallRecord]:
    """The last record per key (suite, case, prompt, model, repeat), each at the place
    its key first appeared: a retried call replaces its error record in place."""
    out: dict[Key, CallRecord] = {}
    for rec in records:
        out[rec.key] = rec
    return out


def final_records(run_dir: Path) -> list[CallRecord]:
    """The run's final view: the last record per key. Every reader of a saved run
    (diff, baseline update --run, merge, resume) goes through this."""
    return list(dedupe(read_records(run_dir)).values())


def read_meta(run_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((run_dir / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError("run has no readable meta.json", file=_shown(run_dir),
                        hint="re-run the suites") from None
    if not isinstance(data, dict):
        raise UserError("meta.json is not an object", file=_shown(run_dir / "meta.json"),
                        hint="re-run the suites")
    return data


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """summary.json, or None for a run that never finished (killed)."""
    try:
        data = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)

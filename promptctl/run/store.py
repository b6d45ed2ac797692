"""Run artifacts: .promptctl/runs/<run-id>/ with records.jsonl streamed call by call,
meta.json written at the start and summary.json at the end, and `latest`, a one-line
file naming the last run.

Everything read back from a run folder is validated (artifacts.py): a file of the
wrong shape, a records.jsonl line that is not a record, or a `latest` that does not
name a run folder of this runs directory (a path, `..`, a link) is exit 2 naming
`file:line`. A run id is a plain folder name: never a path."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from ..boundary import display_path
from ..errors import UserError
from ..load.project import Project
from ..results import CallRecord, Completion, RecordKey

try:  # advisory locks: a run being written cannot be resumed by a second process
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LATEST = "latest"
RECORDS = "records.jsonl"
STEPS = "steps.jsonl"  # a conversation's finished requests (RunWriter.write_step)


def runs_dir(project: Project) -> Path:
    """Where the project's run folders live: .promptctl/runs (the state directory's)."""
    return project.state_dir / "runs"


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
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a half-written temp file behind
        raise


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
                                file=display_path(self.dir), hint="start a new run")
        else:
            self.dir.mkdir(parents=True, exist_ok=False)
        # unbuffered: a line written at once is one system call, no copy into a buffer
        self._fh = (self.dir / RECORDS).open("ab", buffering=0)
        self._pending: list[bytes] = []  # lines written with flush=False, in order
        self._pending_size = 0
        if not _try_lock(self._fh.fileno()):
            self._fh.close()
            raise UserError(f"run '{self.run_id}' is still being written by another "
                            "process", hint="wait for it to finish, or stop it first")
        if append:
            truncate_torn_tail(self.dir / RECORDS)
        self._lock = threading.Lock()
        self._steps: Any = None  # steps.jsonl, opened by the first conversation step
        # replaced, never written through: a `latest` that is a link stays harmless
        write_text_atomic(runs_dir / LATEST, self.run_id + "\n")

    @classmethod
    def reopen(cls, run_dir: Path) -> RunWriter:
        """Append to an existing run directory (resume, retry)."""
        return cls(run_dir.parent, run_dir.name, append=True)

    def write(self, record: CallRecord, *, flush: bool = True) -> int:
        """Appends the record's line (at once, or with the batch's flush); returns its
        size in bytes."""
        line = record_line(record.to_dict())
        size = len(line)
        with self._lock:
            if not flush and self._pending_size + size <= _PENDING_MAX:
                self._pending.append(line)
                self._pending_size += size
                return size
            if self._pending:
                self._pending.append(line)
                line = self._take_pending()
            self._write(line)
        return size

    def flush(self) -> None:
        with self._lock:
            if not self._fh.closed and self._pending:
                self._write(self._take_pending())

    def _take_pending(self) -> bytes:
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        return data

    def _write(self, data: bytes) -> None:
        """All of `data`, however many system calls it takes."""
        view = memoryview(data)
        while view:
            written = self._fh.write(view)
            if not written:  # a regular file takes at least a byte, or raises
                raise OSError(f"{RECORDS}: the write took nothing")
            view = view[written:]

    def write_step(self, key: RecordKey, step: str, completion: Completion) -> None:
        """A finished request of a conversation (run/turns.py), by its cache key, in
        steps.jsonl: a resumed run takes its answers back and goes on from the turn
        it was killed in, with or without the response cache."""
        line = record_line({"record": list(key), "step": step,
                            "completion": dataclasses.asdict(completion)})
        with self._lock:
            if self._steps is None:
                self._steps = (self.dir / STEPS).open("ab", buffering=0)
            self._steps.write(line)

    def write_all(self, records: Iterable[CallRecord]) -> None:
        for record in records:
            self.write(record)

    def finish(self, summary: dict[str, Any]) -> None:
        self.close()
        write_json_atomic(self.dir / "summary.json", summary)

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                try:
                    if self._pending:
                        self._write(self._take_pending())
                finally:
                    self._fh.close()  # releases the lock too
                    if self._steps is not None:
                        self._steps.close()


_PENDING_MAX = 65536  # bytes of unflushed lines written before the batch's flush()
_ORJSON_INT = (-(2**63), 2**64)  # the integers orjson writes; past them it raises


def record_line(data: dict[str, Any]) -> bytes:
    """One records.jsonl line: json.dumps(data, ensure_ascii=False) with compact
    separators, as UTF-8, and a newline. orjson writes it (several times faster) when
    `data` holds only what it writes as json does: text, whole numbers, true/false/null,
    finite floats (a number may be spelled differently, 1e16 for 1e+16: the same value
    read back), lists and mappings (orjson refuses keys that are not text). NaN and
    infinities (orjson writes null), dates, enums and other objects go to json.dumps,
    which writes or refuses them as it always did."""
    if _orjson_writes(data):
        try:
            return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)
        except orjson.JSONEncodeError:
            pass  # a key that is not text, a lone surrogate: json.dumps says what it says
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _orjson_writes(data: dict[str, Any]) -> bool:
    """Does `data` hold only text, true/false/null, 64-bit whole numbers, finite floats,
    lists and mappings? Only containers are visited as items of their own."""
    low, high = _ORJSON_INT
    todo: list[Any] = [data]
    while todo:
        container = todo.pop()
        for item in (container.values() if type(container) is dict else container):
            kind = type(item)
            if kind is str or kind is bool or item is None:
                continue
            if kind is dict or kind is list:
                todo.append(item)
            elif kind is float:
                if item - item != 0.0:  # NaN or an infinity
                    return False
            elif kind is not int or not low <= item < high:
                return False
    return True


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


def check_run_id(run: str, *, file: str | None = None, line: int | None = None) -> str:
    """A run id is a folder name in the runs directory: no path separator, not `.` or
    `..`, no glob characters."""
    if (not run or run in (".", "..") or any(c in run for c in "/\\\0*?[")
            or len(run) > 200):
        shown = run if len(run) <= 60 else run[:59] + "…"
        raise UserError(f"{shown!r} is not a run id" + (" (a run id is a folder name, "
                        "never a path)" if file is None else ""), file=file, line=line,
                        hint="run ids are the folder names in .promptctl/runs" if file is None
                        else "delete it (the next run writes it again), or name a run id")
    return run


def read_latest(runs_dir: Path) -> str:
    """The run id the `latest` pointer names: one line, a run id of a folder that
    exists."""
    pointer = runs_dir / LATEST
    where = display_path(pointer)
    hint = "delete it (the next run writes it again), or name a run id"
    if pointer.is_symlink():
        target = "nowhere" if not pointer.exists() else str(os.readlink(pointer))
        raise UserError(f"the latest-run pointer is a symbolic link (to {target}); "
                        "promptctl writes it as a file holding a run id", file=where, line=1,
                        hint=hint)
    if not pointer.exists():
        raise UserError("no runs yet", hint="run `promptctl run` first")
    if not pointer.is_file():
        raise UserError("the latest-run pointer is not a file", file=where, hint=hint)
    # deferred: the pydantic shapes of artifacts.py are built on the first read
    from ..artifacts import decode

    try:
        data = pointer.read_bytes()[:4096]
    except OSError as exc:
        raise UserError(f"cannot read the latest-run pointer: {exc.strerror}", file=where,
                        hint=hint) from None
    lines = decode(data, where, "the latest-run pointer", hint).strip().splitlines()
    if not lines:
        raise UserError("the latest-run pointer is empty", file=where, line=1, hint=hint)
    if len(lines) > 1:
        raise UserError("the latest-run pointer has more than one line", file=where, line=2,
                        hint=hint)
    run = check_run_id(lines[0].strip(), file=where, line=1)
    if not (runs_dir / run).is_dir():
        raise UserError(f"the latest-run pointer names run '{run}', which does not exist",
                        file=where, line=1, hint=hint)
    return run


def resolve_run(runs_dir: Path, run: str | None = None) -> Path:
    """A run directory by id (or unique prefix); the latest run when none is given
    (or 'latest')."""
    if run is None or run == LATEST:
        return runs_dir / read_latest(runs_dir)
    check_run_id(run)
    path = runs_dir / run
    if path.is_dir():
        return path
    matches = ([p for p in runs_dir.iterdir() if p.name.startswith(run) and p.is_dir()]
               if runs_dir.is_dir() else [])
    if len(matches) == 1:
        return matches[0]
    raise UserError(f"no run '{run}'" + (" (ambiguous prefix)" if matches else ""),
                    hint=f"run ids are the folder names in {runs_dir}")


def read_steps(run_dir: Path) -> dict[str, Completion]:
    """A run's finished conversation steps (RunWriter.write_step), by cache key. A line
    that is not one (torn by a kill, or not promptctl's) is skipped: its request is
    only made again."""
    from .cache import completion_of  # deferred: the cache's completion shape

    found: dict[str, Completion] = {}
    try:
        data = (run_dir / STEPS).read_bytes()
    except OSError:
        return found
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            continue  # a torn last line
        try:
            line = json.loads(raw)
            completion = completion_of(line["completion"])
        except (ValueError, TypeError, KeyError):
            continue
        if completion is not None and isinstance(line.get("step"), str):
            found[line["step"]] = completion
    return found


def read_records(run_dir: Path) -> Iterator[CallRecord]:
    """The records of a run as written, in file order; blank lines are skipped. A run
    killed mid-write can leave one torn last line (no trailing newline): it is skipped,
    since that call never finished. Any other line that is not a record (see
    artifacts.RunRecord) is exit 2 naming its line. A key can appear more than once (a
    retried error): see `final_records`."""
    for data in read_record_dicts(run_dir):
        yield CallRecord.from_dict(data)


def read_record_dicts(run_dir: Path) -> Iterator[dict[str, Any]]:
    """read_records' records as the validated dicts of their lines, for a reader that
    needs a few fields of many runs (`history`): no CallRecord is made."""
    # deferred: the pydantic shapes of artifacts.py are built on the first read
    from pydantic import ValidationError

    from ..artifacts import RunRecord, describe

    path = run_dir / RECORDS
    where = display_path(path)
    hint = f"delete the run folder {display_path(run_dir)}, or re-run"
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise UserError(f"the run folder has no {RECORDS}", file=display_path(run_dir),
                        hint=hint) from None
    with fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            torn = not raw.endswith(b"\n")
            try:
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
                data = loads(text)
                RunRecord.model_validate(data)
            except UnicodeDecodeError as exc:
                if torn:
                    return  # the torn tail of a killed run
                raise UserError(f"run record is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                                file=where, line=lineno, hint=hint) from None
            except (ValueError, RecursionError) as exc:
                if torn:
                    return
                if isinstance(exc, ValidationError):
                    message = describe(exc, data)[1]
                elif isinstance(exc, json.JSONDecodeError):
                    message = f"invalid JSON: {exc.msg}"
                else:
                    message = "invalid JSON: nested too deeply"
                raise UserError(f"corrupt run record: {message}", file=where, line=lineno,
                                hint=hint) from None
            yield data


def loads(text: str) -> Any:
    """json.loads, through orjson when it reads the text (several times faster); what
    orjson refuses (NaN, integers past 64 bits, nesting past its limit, bad JSON) goes
    to json.loads, which reads it or raises as it always did."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def dedupe(records: Iterable[CallRecord]) -> dict[RecordKey, CallRecord]:
    """The last record per key (suite, case, prompt, model, repeat), each at the place
    its key first appeared: a retried call replaces its error record in place."""
    out: dict[RecordKey, CallRecord] = {}
    for rec in records:
        out[rec.key] = rec
    return out


def final_records(run_dir: Path) -> list[CallRecord]:
    """The run's final view: the last record per key. Every reader of a saved run
    (diff, baseline update --run, merge, resume) goes through this."""
    return list(dedupe(read_records(run_dir)).values())


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """summary.json, or None for a run that never finished (killed, or running)."""
    # deferred: the pydantic shapes of artifacts.py are built on the first read
    from ..artifacts import RunSummary, load_json

    path = run_dir / "summary.json"
    if not path.exists():
        return None
    _, data = load_json(path, RunSummary, display_path(path), "run summary",
                        f"delete the file (the run then counts as unfinished: `promptctl "
                        f"run --resume {run_dir.name}` finishes it), or delete the run folder")
    return dict(data)

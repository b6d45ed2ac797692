"""The response cache: SQLite in .promptctl/, keyed by everything that changes the
answer (provider, model identity, rendered messages, params, seed, repeat index).
Only successful completions are stored; errors are never cached. A completion is stored
whole, so a cached answer keeps what the endpoint said it ran for the call that made
it (served_model, system_fingerprint); an entry stored before those fields existed reads
with them None.

Two processes may share one cache (WAL mode, a busy timeout). The file is capped
(promptctl.yaml `cache: {max_mb: N}`, default 1024): past the cap the least recently
used entries are evicted. Hits and misses are counted across runs for `cache stats`.

A broken cache never breaks a run's verdict: an entry whose JSON is unreadable or of the
wrong shape is a miss (said once per run on stderr), and the fresh answer replaces it.
A file that is not a SQLite database at all is exit 2 naming it ("delete it"): it
cannot be repaired or written, and deleting what the user's config points at is
theirs to do (`--no-cache` runs without it meanwhile)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..errors import InfraError, UserError
from ..load.project import Project
from ..results import Completion, ToolCall, digest
from ..schema import plugins_off

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL,
    used REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS responses_used ON responses (used);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
EVICT_EVERY = 200  # puts between two size checks
DEFAULT_MAX_MB = 1024.0


def cache_key(identity: dict[str, Any], messages: list[dict[str, str]],
              params: dict[str, Any], repeat: int) -> str:
    return digest({"identity": identity, "messages": messages, "params": params,
                   "repeat": repeat})


class Cache:
    """Thread-safe within a process; WAL mode makes two processes on one file safe."""

    def __init__(self, path: Path, max_mb: float | None = DEFAULT_MAX_MB) -> None:
        self.path = path
        self.max_bytes = int(max_mb * 2**20) if max_mb else None
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.hits = 0
        self.misses = 0
        self.evicted = 0
        self._puts = 0
        self._flushed = (0, 0)
        self.unreadable = 0  # entries that were ignored (a miss) this run

    @property
    def shown(self) -> str:
        try:
            return os.path.relpath(self.path)
        except ValueError:  # another drive on Windows
            return str(self.path)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite's errors as promptctl's: a file that is no database is exit 2."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            text = str(exc)
            if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
                raise InfraError(f"the cache is locked by another process ({text})",
                                 file=self.shown, hint="wait for it, or run with "
                                 "--no-cache") from None
            if "not a database" in text or "malformed" in text or "encrypted" in text:
                raise UserError(f"not a usable cache: {text}", file=self.shown,
                                hint=f"delete it (it only holds cached answers): rm "
                                     f"{self.shown}*; or run with --no-cache") from None
            raise UserError(f"cannot use the cache: {text}", file=self.shown,
                            hint="check that the file and its folder are writable, or "
                                 "run with --no-cache") from None

    def _db(self) -> sqlite3.Connection:
        with self._guard():
            return self._open()

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False,
                                   isolation_level=None)
            # Two processes opening a new cache at once race to switch it to WAL, and
            # SQLite says "database is locked" at once (the busy timeout does not cover
            # that switch); once the file is in WAL mode, opening it is safe.
            deadline = time.monotonic() + 30
            while True:
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                    conn.executescript(SCHEMA)
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        conn.close()
                        raise
                    time.sleep(0.05)
            self._conn = conn
        return self._conn

    def get(self, key: str) -> Completion | None:
        value = self.get_value(key, _completion_shape())
        return None if value is None else _completion(value)

    def put(self, key: str, identity: dict[str, Any], completion: Completion) -> None:
        self.put_value(key, identity, asdict(completion))

    def get_value(self, key: str, shape: Any = None) -> Any:
        """Any JSON value stored under key (a completion, an embedding, logprobs); with
        `shape` (a type), an entry not of that shape is a miss."""
        with self._lock, self._guard():
            row = self._db().execute("SELECT value FROM responses WHERE key = ?",
                                     (key,)).fetchone()
            value = None if row is None else self._parse(row[0], shape)
            if value is None:
                self.misses += 1
                return None
            self.hits += 1
            self._db().execute("UPDATE responses SET used = ?, hits = hits + 1 WHERE key = ?",
                               (time.time(), key))
        return value

    def _parse(self, text: str, shape: Any) -> Any:
        try:
            value = json.loads(text)
            if shape is not None:
                _adapter(shape).validate_python(value)
            return value
        except (ValueError, TypeError, RecursionError, ValidationError):
            pass
        if not self.unreadable:
            print(f"warning: {self.shown}: an unreadable cache entry was ignored (its call "
                  "is made again and replaces it; `promptctl cache clear` empties the "
                  "cache)", file=sys.stderr)
        self.unreadable += 1
        return None

    def put_value(self, key: str, identity: dict[str, Any], data: Any) -> None:
        now = time.time()
        value = json.dumps(data, ensure_ascii=False)
        with self._lock, self._guard():
            self._db().execute(
                "INSERT OR REPLACE INTO responses (key, provider, model, value, created, used)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key, str(identity.get("provider", "")), str(identity.get("model", "")),
                 value, now, now))
            self._puts += 1
            if self.max_bytes and self._puts % EVICT_EVERY == 1:
                self._evict()

    def _live_bytes(self) -> int:
        db = self._db()
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        (free,) = db.execute("PRAGMA freelist_count").fetchone()
        (size,) = db.execute("PRAGMA page_size").fetchone()
        return int((pages - free) * size)

    def _evict(self) -> None:
        """Delete least recently used entries until the data is under 90% of the cap.
        Freed pages are reused by later writes, so the file stops growing."""
        assert self.max_bytes is not None
        db = self._db()
        live = self._live_bytes()
        if live <= self.max_bytes:
            return
        (count,) = db.execute("SELECT COUNT(*) FROM responses").fetchone()
        if not count:
            return
        share = 1 - 0.9 * self.max_bytes / live
        doomed = max(1, int(count * share) + 1)
        db.execute("DELETE FROM responses WHERE key IN (SELECT key FROM responses "
                   "ORDER BY used LIMIT ?)", (doomed,))
        self.evicted += doomed

    def evict(self) -> int:
        """Enforce the size cap now; returns how many entries went."""
        before = self.evicted
        with self._lock, self._guard():
            if self.max_bytes:
                self._evict()
        return self.evicted - before

    def _flush_counters(self) -> None:
        hits, misses = self.hits - self._flushed[0], self.misses - self._flushed[1]
        if not (hits or misses) or self._conn is None:
            return
        for name, n in (("hits", hits), ("misses", misses)):
            self._conn.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT"
                               "(name) DO UPDATE SET value = value + excluded.value", (name, n))
        self._flushed = (self.hits, self.misses)

    def stats(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"path": str(self.path), "entries": 0, "bytes": 0, "by_model": []}
        with self._lock, self._guard():
            db = self._db()
            self._flush_counters()
            counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
            entries, _ = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(hits), 0) FROM responses").fetchone()
            hits = counters.get("hits", 0)
            by_model = db.execute(
                "SELECT provider, model, COUNT(*), COALESCE(SUM(hits), 0), MAX(used)"
                " FROM responses GROUP BY provider, model ORDER BY COUNT(*) DESC").fetchall()
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))
        return {"path": str(self.path), "entries": entries, "hits": hits,
                "misses": counters.get("misses", 0), "bytes": size,
                "max_bytes": self.max_bytes,
                "by_model": [{"provider": p, "model": m, "entries": n, "hits": h,
                              "last_used": u} for p, m, n, h, u in by_model]}

    def clear(self) -> int:
        if not self.path.exists():
            return 0
        with self._lock, self._guard():
            db = self._db()
            (count,) = db.execute("SELECT COUNT(*) FROM responses").fetchone()
            db.execute("DELETE FROM responses")
            db.execute("DELETE FROM counters")
            self._flushed = (self.hits, self.misses)
            db.execute("VACUUM")
        return int(count)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):  # counters are best effort
                    self._flush_counters()
                self._conn.close()
                self._conn = None


_ADAPTERS: dict[Any, Any] = {}


def _adapter(shape: Any) -> Any:
    """A pydantic TypeAdapter per shape, made once, when a cache entry is first read."""
    if shape not in _ADAPTERS:
        with plugins_off():  # see schema.built
            _ADAPTERS[shape] = TypeAdapter(shape)
    return _ADAPTERS[shape]


_COMPLETION: list[Any] = []


def _completion_shape() -> Any:
    """A cached completion: Completion's own fields and types; keys it does not have
    (stored by another promptctl version) are ignored."""
    if not _COMPLETION:
        # deferred: the pydantic shapes of artifacts.py are built on the first read
        from ..artifacts import Lenient, dataclass_shape

        _COMPLETION.append(dataclass_shape(Completion, "CachedCompletion",
                                           {"tool_calls": list[dict[str, Any]]},
                                           base=Lenient))
    return _COMPLETION[0]


def _completion(value: dict[str, Any]) -> Completion:
    known = Completion.__dataclass_fields__  # entries from other versions may differ
    completion = Completion(**{k: v for k, v in value.items() if k in known})
    if completion.tool_calls:
        completion.tool_calls = [ToolCall.from_dict(c) for c in completion.tool_calls]
    return completion


def completion_of(data: Any) -> Completion | None:
    """A stored completion (a cache entry's, a run's steps.jsonl line's) checked to be
    one; None when it is not."""
    try:
        _adapter(_completion_shape()).validate_python(data)
    except (ValueError, TypeError, RecursionError, ValidationError):
        return None
    return _completion(data)


def open_cache(project: Project) -> Cache:
    """The project's response cache in its state directory, capped as promptctl.yaml
    says."""
    return Cache(project.state_dir / "cache.sqlite", project.config.cache.max_mb)


def cached_keys(project: Project, keys: Sequence[str]) -> set[str]:
    """Which of `keys` the project's cache holds, read-only (a dry run): nothing is
    created, counted or marked used; a cache that does not exist holds none."""
    path = project.state_dir / "cache.sqlite"
    if not path.is_file() or not keys:
        return set()
    found: set[str] = set()
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        with Cache(path)._guard():
            wanted = list(dict.fromkeys(keys))
            for i in range(0, len(wanted), 500):  # SQLite's limit of bound parameters
                chunk = wanted[i:i + 500]
                rows = conn.execute("SELECT key FROM responses WHERE key IN "
                                    f"({','.join('?' * len(chunk))})", chunk)
                found.update(row[0] for row in rows)
    finally:
        conn.close()
    return found

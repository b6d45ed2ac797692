"""The response cache: SQLite in .promptctl/, keyed by everything that changes the
answer (provider, model identity, rendered messages, params, seed, repeat index).
Only successful completions are stored; errors are never cached.

Two processes may share one cache (WAL mode, a busy timeout). The file is capped
(promptctl.yaml `cache: {max_mb: N}`, default 1024): past the cap the least recently
used entries are evicted. Hits and misses are counted across runs for `cache stats`."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .results import Completion

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
    blob = json.dumps({"identity": identity, "messages": messages, "params": params,
                       "repeat": repeat}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


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

    def _db(self) -> sqlite3.Connection:
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
        value = self.get_value(key)
        if value is None:
            return None
        known = Completion.__dataclass_fields__  # entries from other versions may differ
        return Completion(**{k: v for k, v in value.items() if k in known})

    def put(self, key: str, identity: dict[str, Any], completion: Completion) -> None:
        self.put_value(key, identity, asdict(completion))

    def get_value(self, key: str) -> Any:
        """Any JSON value stored under key (a completion, an embedding, logprobs)."""
        with self._lock:
            row = self._db().execute("SELECT value FROM responses WHERE key = ?",
                                     (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
            self._db().execute("UPDATE responses SET used = ?, hits = hits + 1 WHERE key = ?",
                               (time.time(), key))
        return json.loads(row[0])

    def put_value(self, key: str, identity: dict[str, Any], data: Any) -> None:
        now = time.time()
        value = json.dumps(data, ensure_ascii=False)
        with self._lock:
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
        with self._lock:
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
        with self._lock:
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
        with self._lock:
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
                self._flush_counters()
                self._conn.close()
                self._conn = None

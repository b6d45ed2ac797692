"""The response cache: SQLite in .promptctl/, keyed by everything that changes the
answer (provider, model identity, rendered messages, params, seed, repeat index).
Only successful completions are stored; errors are never cached."""

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
"""


def cache_key(identity: dict[str, Any], messages: list[dict[str, str]],
              params: dict[str, Any], repeat: int) -> str:
    blob = json.dumps({"identity": identity, "messages": messages, "params": params,
                       "repeat": repeat}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class Cache:
    """Thread-safe within a process; WAL mode makes two processes on one file safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.hits = 0
        self.misses = 0

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False,
                                   isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
            self._conn = conn
        return self._conn

    def get(self, key: str) -> Completion | None:
        value = self.get_value(key)
        return None if value is None else Completion(**value)

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

    def stats(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"path": str(self.path), "entries": 0, "bytes": 0, "by_model": []}
        with self._lock:
            db = self._db()
            entries, hits = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(hits), 0) FROM responses").fetchone()
            by_model = db.execute(
                "SELECT provider, model, COUNT(*), COALESCE(SUM(hits), 0), MAX(used)"
                " FROM responses GROUP BY provider, model ORDER BY COUNT(*) DESC").fetchall()
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))
        return {"path": str(self.path), "entries": entries, "hits": hits, "bytes": size,
                "by_model": [{"provider": p, "model": m, "entries": n, "hits": h,
                              "last_used": u} for p, m, n, h, u in by_model]}

    def clear(self) -> int:
        if not self.path.exists():
            return 0
        with self._lock:
            db = self._db()
            (count,) = db.execute("SELECT COUNT(*) FROM responses").fetchone()
            db.execute("DELETE FROM responses")
            db.execute("VACUUM")
        return int(count)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

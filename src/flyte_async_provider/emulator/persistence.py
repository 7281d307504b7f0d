"""Optional SQLite persistence: a restarted emulator still knows its entities and executions.

Write-through: every entity creation/update and every execution state change is one upsert.
Time-based phases need no writes: they are recomputed from the stored last-transition time on load.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from typing import Any

from .backend import Backend

_BYTES_FIELDS = ("spec", "workflow_id", "inputs", "user_inputs", "expected_outputs", "outputs")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    kind TEXT NOT NULL, project TEXT NOT NULL, domain TEXT NOT NULL, name TEXT NOT NULL,
    version TEXT NOT NULL, data BLOB NOT NULL, created_at REAL NOT NULL, state INTEGER NOT NULL,
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    UNIQUE (kind, project, domain, name, version)
);
CREATE TABLE IF NOT EXISTS executions (
    project TEXT NOT NULL, domain TEXT NOT NULL, name TEXT NOT NULL, seq INTEGER NOT NULL,
    state TEXT NOT NULL, PRIMARY KEY (project, domain, name)
);
"""


class SqliteStore:
    """One SQLite file; safe to call from any thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def save_entity(
        self, kind: str, key: tuple[str, str, str, str], data: bytes, created_at: float, state: int
    ) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO entities (kind, project, domain, name, version, data, created_at, state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (kind, project, domain, name, version)"
                " DO UPDATE SET data = excluded.data, state = excluded.state",
                (kind, *key, data, created_at, state),
            )

    def save_execution(self, state: dict[str, Any]) -> None:
        encoded = dict(state)
        for field in _BYTES_FIELDS:
            if encoded[field] is not None:
                encoded[field] = base64.b64encode(encoded[field]).decode()
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO executions (project, domain, name, seq, state)"
                " VALUES (?, ?, ?, ?, ?)",
                (state["project"], state["domain"], state["name"], state["seq"], json.dumps(encoded)),
            )

    def load_into(self, backend: Backend) -> int:
        """Restore entities then executions; returns how many executions were loaded."""
        with self._lock:
            entities = self._conn.execute(
                "SELECT kind, project, domain, name, version, data, created_at, state"
                " FROM entities ORDER BY seq"
            ).fetchall()
            executions = self._conn.execute("SELECT state FROM executions ORDER BY seq").fetchall()
        for kind, project, domain, name, version, data, created_at, state in entities:
            backend.entities.restore(kind, (project, domain, name, version), data, created_at, state)
        for (raw,) in executions:
            decoded = json.loads(raw)
            for field in _BYTES_FIELDS:
                if decoded[field] is not None:
                    decoded[field] = base64.b64decode(decoded[field])
            backend.restore_execution(decoded)
        return len(executions)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

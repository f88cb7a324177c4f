"""The cabinet's local state for restart recovery (stdlib sqlite3, WAL).

Holds what must survive a power cut besides the outbox and the pick recording:
the open session's snapshot, the lockout, lane stock, runtime config overrides
and every command nonce seen (replay protection). Face images are never stored.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_nonces (
    nonce TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""


def open_database(path: Path) -> sqlite3.Connection:
    """A WAL connection with full fsync: a committed row survives a power cut."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class LocalStore:
    """Thread-safe: the runtime's recognition thread and event loop both use it."""

    SESSION_KEY = "session"
    LOCKOUT_KEY = "lockout"
    CONFIG_KEY = "config_overrides"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = open_database(path)
        self._lock = threading.Lock()
        self._conn.executescript(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- replay protection --------------------------------------------------------------------

    def claim_nonce(self, nonce: str, expires_at: float) -> bool:
        """True the first time a nonce is seen, False on every later attempt."""
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO seen_nonces (nonce, expires_at) VALUES (?, ?)",
                (nonce, expires_at),
            )
            return cur.rowcount == 1

    def prune_nonces(self, now: float) -> int:
        """Forget nonces of commands that are expired anyway (expiry still rejects them)."""
        with self._tx() as conn:
            return conn.execute("DELETE FROM seen_nonces WHERE expires_at < ?", (now,)).rowcount

    # --- small values -------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, key: str, value: bytes) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def delete(self, key: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM kv WHERE key = ?", (key,))

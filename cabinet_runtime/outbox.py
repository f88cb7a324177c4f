"""A durable outbox: every outgoing message is stored before it is sent and is
resent until the server acknowledges its id; once acknowledged it is never sent
again, across restarts included.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cabinet_runtime.protocol import Message, encode
from cabinet_runtime.store import open_database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    payload BLOB NOT NULL,
    enqueued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_sent_at REAL,
    acked_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (acked_at, seq);
"""


@dataclass(frozen=True)
class OutboxEntry:
    id: str
    type: str
    payload: bytes
    attempts: int


class Outbox:
    def __init__(self, path: Path, *, wall_clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._now = wall_clock
        self._conn = open_database(path)
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def on_enqueue(self, listener: Callable[[], None]) -> None:
        """Called after each new message (the link uses it to wake its sender)."""
        self._listeners.append(listener)

    def put(self, message: Message) -> str:
        """Store a message for delivery; putting the same message id twice is a no-op."""
        kind = type(message).__struct_config__.tag
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO outbox (id, type, payload, enqueued_at) VALUES (?, ?, ?, ?)",
                (message.id, str(kind), encode(message), self._now()),
            )
        for listener in self._listeners:
            listener()
        return message.id

    def due(self, sent_before: float, limit: int = 100) -> list[OutboxEntry]:
        """Unacknowledged messages never sent, or last sent before ``sent_before``; FIFO."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, type, payload, attempts FROM outbox WHERE acked_at IS NULL "
                "AND (last_sent_at IS NULL OR last_sent_at < ?) ORDER BY seq LIMIT ?",
                (sent_before, limit),
            ).fetchall()
        return [OutboxEntry(r[0], r[1], bytes(r[2]), r[3]) for r in rows]

    def mark_sent(self, message_id: str) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_sent_at = ? "
                "WHERE id = ? AND acked_at IS NULL",
                (self._now(), message_id),
            )

    def acknowledge(self, message_id: str) -> bool:
        """True when this ack settled a pending message (False: unknown or already acked)."""
        with self._lock:
            cur = self._conn.execute(
                "UPDATE outbox SET acked_at = ? WHERE id = ? AND acked_at IS NULL",
                (self._now(), message_id),
            )
            return cur.rowcount == 1

    def is_acknowledged(self, message_id: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT acked_at FROM outbox WHERE id = ?", (message_id,)
            ).fetchone()
        return row is not None and row[0] is not None

    def depth(self) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE acked_at IS NULL"
            ).fetchone()
        return int(row[0])

    def total(self) -> int:
        """Every message ever stored (acknowledged ones included, until pruned)."""
        with self._lock:
            row = self._conn.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(row[0])

    def prune_acknowledged(self, older_than: float) -> int:
        with self._lock:
            cur = self._conn.execute(
                "DELETE FROM outbox WHERE acked_at IS NOT NULL AND acked_at < ?", (older_than,)
            )
            return cur.rowcount

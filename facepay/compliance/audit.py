"""The append-only audit log: each entry's hash covers the previous entry's hash.

Modifying, deleting or reordering entries breaks the chain at the first
affected entry, which ``verify_chain`` names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from facepay.compliance.models import AuditEntry
from facepay.db.base import utcnow

GENESIS_HASH = "0" * 64
# Any constant works: it names the one advisory lock that serialises appends on PostgreSQL.
_POSTGRES_CHAIN_LOCK = 0x46504155


def canonical_json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(
    prev_hash: str,
    occurred_at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    details: str,
) -> str:
    body = canonical_json(
        {
            "occurred_at": occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details,
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction; the chain tip is locked until it commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _POSTGRES_CHAIN_LOCK})
    # SQLite: the engine begins every transaction IMMEDIATE, which already
    # serialises writers.
    prev = session.scalar(select(AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1))
    prev_hash = prev or GENESIS_HASH
    occurred_at = utcnow()
    body = canonical_json(details or {})
    entry = AuditEntry(
        occurred_at=occurred_at,
        actor=actor,
        action=action,
        subject=subject,
        details=body,
        prev_hash=prev_hash,
        entry_hash=entry_hash(prev_hash, occurred_at, actor, action, subject, body),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    entries: int
    broken_seq: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def verify_chain(session: Session) -> ChainReport:
    prev_hash = GENESIS_HASH
    count = 0
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
    for entry in rows.yield_per(1000):
        count += 1
        if entry.prev_hash != prev_hash:
            reason = "does not follow the entry before it (an entry was deleted or reordered)"
            return ChainReport(count, entry.seq, reason)
        expected = entry_hash(
            entry.prev_hash,
            entry.occurred_at,
            entry.actor,
            entry.action,
            entry.subject,
            entry.details,
        )
        if expected != entry.entry_hash:
            return ChainReport(count, entry.seq, "its content does not match its hash (modified)")
        prev_hash = entry.entry_hash
    return ChainReport(count, None, None)

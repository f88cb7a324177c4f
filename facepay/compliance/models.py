"""Consent notices and records, and the hash-chained audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from facepay.db.base import Base, created_column, id_column


class ConsentNotice(Base):
    """A versioned notice text (PIPA Art. 23 style for biometric consent)."""

    __tablename__ = "consent_notices"
    __table_args__ = (UniqueConstraint("kind", "version", "language"),)

    id: Mapped[str] = id_column()
    kind: Mapped[str] = mapped_column(String(32))  # biometric|terms|marketing
    version: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))
    purpose: Mapped[str] = mapped_column(Text)
    items: Mapped[str] = mapped_column(Text)
    retention_days: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = created_column()


class ConsentRecord(Base):
    """One decision by one customer on one notice version. Never edited."""

    __tablename__ = "consent_records"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("consent_notices.id"))
    decision: Mapped[str] = mapped_column(String(16))  # granted|refused|withdrawn
    channel: Mapped[str] = mapped_column(String(32))  # mobile_web|api|console
    recorded_at: Mapped[datetime] = created_column()


class AuditEntry(Base):
    """Append-only; ``entry_hash`` covers this entry and ``prev_hash``.

    ``prev_hash`` is unique, so two writers can never both extend the same
    entry: the chain cannot fork.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = created_column()
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    subject: Mapped[str | None] = mapped_column(String(200), index=True)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)

"""Versioned consent notices and the customers' decisions on them.

Biometric consent is a notice of its own kind, separate from the terms. A
decision (granted, refused, withdrawn) is recorded against one notice version
and never edited; the latest decision of a kind is the one in force.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from facepay.compliance import audit
from facepay.compliance.models import ConsentNotice, ConsentRecord
from facepay.errors import NotFoundError, ValidationError

DEFAULT_NOTICES_FILE = Path(__file__).with_name("default_notices.toml")
BIOMETRIC = "biometric"
TERMS = "terms"
LANGUAGES = ("ko", "en")
CHANNELS = ("mobile_web", "api", "console", "cli")


class Decision(StrEnum):
    GRANTED = "granted"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class ConsentState:
    kind: str
    decision: Decision | None  # None: never asked
    notice_version: int | None

    @property
    def granted(self) -> bool:
        return self.decision is Decision.GRANTED


def seed_default_notices(session: Session, path: Path = DEFAULT_NOTICES_FILE) -> int:
    """Publish the shipped notices that are not in the database yet; returns how many."""
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    added = 0
    for entry in document["notice"]:
        exists = session.scalar(
            select(ConsentNotice.id).where(
                ConsentNotice.kind == entry["kind"],
                ConsentNotice.version == entry["version"],
                ConsentNotice.language == entry["language"],
            )
        )
        if exists is None:
            session.add(
                ConsentNotice(
                    kind=entry["kind"],
                    version=entry["version"],
                    language=entry["language"],
                    purpose=entry["purpose"],
                    items=entry["items"],
                    retention_days=entry["retention_days"],
                    text=entry["text"].strip(),
                )
            )
            added += 1
    session.flush()
    return added


def current_notice(session: Session, kind: str, language: str = "ko") -> ConsentNotice:
    """The newest version of a notice kind in a language; seeds the defaults on first use."""
    if language not in LANGUAGES:
        raise ValidationError(f"language must be one of {', '.join(LANGUAGES)}")
    query = (
        select(ConsentNotice)
        .where(ConsentNotice.kind == kind, ConsentNotice.language == language)
        .order_by(ConsentNotice.version.desc())
        .limit(1)
    )
    notice = session.scalar(query)
    if notice is None and seed_default_notices(session):
        notice = session.scalar(query)
    if notice is None:
        raise NotFoundError(f"no {kind!r} notice in {language!r}")
    return notice


def record_decision(
    session: Session,
    customer_id: str,
    notice_id: str,
    decision: Decision | str,
    *,
    channel: str,
) -> ConsentRecord:
    """Append a decision (and an audit entry) in the caller's transaction."""
    try:
        decided = Decision(decision)
    except ValueError:
        raise ValidationError(
            f"decision must be one of {', '.join(d.value for d in Decision)}"
        ) from None
    if channel not in CHANNELS:
        raise ValidationError(f"channel must be one of {', '.join(CHANNELS)}")
    notice = session.get(ConsentNotice, notice_id)
    if notice is None:
        raise NotFoundError(f"no consent notice {notice_id!r}")
    record = ConsentRecord(
        customer_id=customer_id, notice_id=notice.id, decision=decided.value, channel=channel
    )
    session.add(record)
    session.flush()
    audit.append(
        session,
        actor=f"customer:{customer_id}",
        action=f"consent.{decided.value}",
        subject=customer_id,
        details={
            "kind": notice.kind,
            "notice_id": notice.id,
            "version": notice.version,
            "language": notice.language,
            "channel": channel,
        },
    )
    return record


def consent_state(session: Session, customer_id: str, kind: str) -> ConsentState:
    row = session.execute(
        select(ConsentRecord.decision, ConsentNotice.version)
        .join(ConsentNotice, ConsentNotice.id == ConsentRecord.notice_id)
        .where(ConsentRecord.customer_id == customer_id, ConsentNotice.kind == kind)
        .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return ConsentState(kind, None, None)
    return ConsentState(kind, Decision(row[0]), int(row[1]))

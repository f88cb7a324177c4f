"""The customer's consent: reading the notice in force and recording decisions.

Withdrawing (or refusing) biometric consent destroys the face templates in the
same transaction; the change is published after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from sqlalchemy.orm import Session, sessionmaker

from facepay.compliance.consent import (
    BIOMETRIC,
    Decision,
    consent_state,
    current_notice,
    record_decision,
)
from facepay.compliance.models import ConsentNotice
from facepay.customers.biometric_erasure import destroy_biometrics
from facepay.customers.events import BiometricChange, ChangeBus, ChangeKind
from facepay.customers.lookup import load_customer


class NoticeView(msgspec.Struct, frozen=True):
    """A consent notice as the customer reads it; also the API payload."""

    id: str
    kind: str
    version: int
    language: str
    purpose: str
    items: str
    retention_days: int
    text: str


@dataclass(frozen=True)
class ConsentRecorded:
    record_id: str
    decision: str


@dataclass(frozen=True)
class CustomerConsents:
    sessions: sessionmaker[Session]
    changes: ChangeBus

    def notice(self, kind: str, language: str = "ko") -> NoticeView:
        """The newest notice of a kind in a language (the defaults are seeded on first use)."""
        with self.sessions.begin() as session:
            n = current_notice(session, kind, language)
            return NoticeView(
                n.id, n.kind, n.version, n.language, n.purpose, n.items, n.retention_days, n.text
            )

    def current_decision(self, customer_id: str, kind: str = BIOMETRIC) -> Decision | None:
        with self.sessions() as session:
            return consent_state(session, customer_id, kind).decision

    def decide(
        self, customer_id: str, notice_id: str, decision: str, *, channel: str
    ) -> ConsentRecorded:
        """Record a consent decision; withdrawing (or refusing) biometric consent destroys the
        face templates at once."""
        with self.sessions.begin() as session:
            customer = load_customer(session, customer_id, for_update=True)
            record = record_decision(session, customer_id, notice_id, decision, channel=channel)
            notice = session.get(ConsentNotice, record.notice_id)
            removed = False
            if (
                notice is not None
                and notice.kind == BIOMETRIC
                and record.decision != Decision.GRANTED
            ):
                removed = any(
                    destroy_biometrics(session, customer, reason=f"consent_{record.decision}")
                )
            recorded = ConsentRecorded(record.id, record.decision)
        if removed:
            self.changes.publish(BiometricChange(customer_id, ChangeKind.TEMPLATES_REMOVED))
        return recorded

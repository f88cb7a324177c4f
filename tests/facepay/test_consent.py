"""Consent notices and decisions; no face is processed before biometric consent."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from test_customers_support import grant_biometric_consent, verified_customer

from facepay.compliance.audit import verify_chain
from facepay.compliance.consent import (
    BIOMETRIC,
    TERMS,
    consent_state,
    current_notice,
    seed_default_notices,
)
from facepay.compliance.models import AuditEntry, ConsentNotice, ConsentRecord
from facepay.customers.errors import ConsentRequiredError
from facepay.customers.models import Customer, FaceTemplate
from facepay.customers.services import CustomerServices
from facepay.errors import NotFoundError, ValidationError


def test_default_notices_are_seeded_once(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        assert seed_default_notices(session) == 4
        assert seed_default_notices(session) == 0
        assert session.scalar(select(func.count()).select_from(ConsentNotice)) == 4


@pytest.mark.parametrize(
    ("language", "phrases"),
    [
        ("ko", ["수집·이용 목적", "수집 항목", "보유·이용 기간", "거부할 권리", "QR"]),
        ("en", ["Purpose", "Items collected", "Retention", "right to refuse", "QR code"]),
    ],
)
def test_biometric_notice_states_purpose_items_retention_and_refusal(
    customer_services: CustomerServices,
    sessions: sessionmaker[Session],
    language: str,
    phrases: list[str],
) -> None:
    with sessions.begin() as session:  # seeded on first use
        notice = current_notice(session, BIOMETRIC, language)
        assert notice.version == 1 and notice.retention_days == 365
        assert notice.purpose and notice.items
        for phrase in phrases:
            assert phrase in notice.text
        terms = current_notice(session, TERMS, language)
        assert terms.id != notice.id and "얼굴" not in terms.text


def test_decisions_are_appended_and_audited(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id = verified_customer(customer_services, "+821022220001")
    with sessions.begin() as session:
        assert consent_state(session, customer_id, BIOMETRIC).decision is None
    grant_biometric_consent(customer_services, customer_id)
    grant_biometric_consent(customer_services, customer_id, "withdrawn")
    with sessions() as session:
        state = consent_state(session, customer_id, BIOMETRIC)
        assert state.decision == "withdrawn" and state.notice_version == 1
        decisions = session.scalars(
            select(ConsentRecord.decision).where(ConsentRecord.customer_id == customer_id)
        )
        assert sorted(decisions) == ["granted", "withdrawn"]
        actions = set(session.scalars(select(AuditEntry.action)))
        assert {"consent.granted", "consent.withdrawn"} <= actions
        assert verify_chain(session).ok


def test_bad_decisions_change_nothing(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id = verified_customer(customer_services, "+821022220002")
    with sessions.begin() as session:
        notice_id = current_notice(session, BIOMETRIC).id
    with pytest.raises(ValidationError):
        customer_services.consents.decide(customer_id, notice_id, "maybe", channel="api")
    with pytest.raises(ValidationError):
        customer_services.consents.decide(
            customer_id, notice_id, "granted", channel="carrier pigeon"
        )
    with pytest.raises(NotFoundError):
        customer_services.consents.decide(customer_id, "no-such-notice", "granted", channel="api")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ConsentRecord)) == 0
        with pytest.raises(ValidationError):
            current_notice(session, BIOMETRIC, "fr")


@pytest.mark.parametrize("decision", [None, "refused", "withdrawn"])
async def test_no_face_is_processed_without_granted_consent(
    customer_services: CustomerServices, sessions: sessionmaker[Session], decision: str | None
) -> None:
    customer_id = verified_customer(customer_services, "+821022220003")
    if decision == "withdrawn":
        grant_biometric_consent(customer_services, customer_id)
    if decision:
        grant_biometric_consent(customer_services, customer_id, decision)
    # Not even decoded: garbage bytes give the consent error, not an image error.
    with pytest.raises(ConsentRequiredError):
        await customer_services.enrollment.enroll(customer_id, [b"junk"] * 3)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(FaceTemplate)) == 0
        customer = session.get(Customer, customer_id)
        assert customer is not None and customer.wrapped_data_key is None

"""Consent notices and decisions; no face is processed before biometric consent."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from test_customers_support import face_engine, grant_biometric_consent, verified_customer

from facepay.compliance.audit import verify_chain
from facepay.compliance.consent import (
    BIOMETRIC,
    TERMS,
    consent_state,
    current_notice,
    seed_default_notices,
)
from facepay.compliance.models import AuditEntry, ConsentNotice, ConsentRecord
from facepay.customers.enrollment import enroll_face
from facepay.customers.errors import ConsentRequiredError
from facepay.customers.models import Customer, FaceTemplate
from facepay.customers.service import decide_consent
from facepay.errors import NotFoundError, ValidationError
from facepay.platform import Platform


def test_default_notices_are_seeded_once(platform: Platform) -> None:
    with platform.sessions.begin() as session:
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
    platform: Platform, language: str, phrases: list[str]
) -> None:
    with platform.sessions.begin() as session:  # seeded on first use
        notice = current_notice(session, BIOMETRIC, language)
        assert notice.version == 1 and notice.retention_days == 365
        assert notice.purpose and notice.items
        for phrase in phrases:
            assert phrase in notice.text
        terms = current_notice(session, TERMS, language)
        assert terms.id != notice.id and "얼굴" not in terms.text


def test_decisions_are_appended_and_audited(platform: Platform) -> None:
    customer_id = verified_customer(platform, "+821022220001")
    with platform.sessions.begin() as session:
        assert consent_state(session, customer_id, BIOMETRIC).decision is None
    grant_biometric_consent(platform, customer_id)
    grant_biometric_consent(platform, customer_id, "withdrawn")
    with platform.sessions() as session:
        state = consent_state(session, customer_id, BIOMETRIC)
        assert state.decision == "withdrawn" and state.notice_version == 1
        decisions = session.scalars(
            select(ConsentRecord.decision).where(ConsentRecord.customer_id == customer_id)
        )
        assert sorted(decisions) == ["granted", "withdrawn"]
        actions = set(session.scalars(select(AuditEntry.action)))
        assert {"consent.granted", "consent.withdrawn"} <= actions
        assert verify_chain(session).ok


def test_bad_decisions_change_nothing(platform: Platform) -> None:
    customer_id = verified_customer(platform, "+821022220002")
    with platform.sessions.begin() as session:
        notice_id = current_notice(session, BIOMETRIC).id
    with pytest.raises(ValidationError):
        decide_consent(platform, customer_id, notice_id, "maybe", channel="api")
    with pytest.raises(ValidationError):
        decide_consent(platform, customer_id, notice_id, "granted", channel="carrier pigeon")
    with pytest.raises(NotFoundError):
        decide_consent(platform, customer_id, "no-such-notice", "granted", channel="api")
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ConsentRecord)) == 0
        with pytest.raises(ValidationError):
            current_notice(session, BIOMETRIC, "fr")


@pytest.mark.parametrize("decision", [None, "refused", "withdrawn"])
async def test_no_face_is_processed_without_granted_consent(
    platform: Platform, decision: str | None
) -> None:
    customer_id = verified_customer(platform, "+821022220003")
    if decision == "withdrawn":
        grant_biometric_consent(platform, customer_id)
    if decision:
        grant_biometric_consent(platform, customer_id, decision)
    # Not even decoded: garbage bytes give the consent error, not an image error.
    with pytest.raises(ConsentRequiredError):
        await enroll_face(platform, customer_id, [b"junk"] * 3, engine=face_engine())
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(FaceTemplate)) == 0
        customer = session.get(Customer, customer_id)
        assert customer is not None and customer.wrapped_data_key is None

"""Phone numbers, one-time codes and the customer's session token."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from test_customers_support import latest_code, verified_customer

from facepay.customers.errors import (
    AuthenticationError,
    InvalidPhoneNumberError,
    PhoneAlreadyRegisteredError,
    RateLimitedError,
    VerificationFailedError,
)
from facepay.customers.models import Customer, PhoneLink, PhoneVerification
from facepay.customers.phone_numbers import normalise_phone
from facepay.customers.phone_verification import MAX_ATTEMPTS, MAX_CODES_PER_HOUR
from facepay.customers.services import CustomerServices
from facepay.db.base import utcnow


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+82 10-1234-5678", "+821012345678"),
        ("010-1234-5678", "+821012345678"),
        ("(010) 1234 5678", "+821012345678"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+1 (415) 555-0100", "+14155550100"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "   ", "12345", "+0123456789", "+82-10-abcd-5678", "+1234567890123456"]
)
def test_bad_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumberError):
        normalise_phone(raw)


def test_bad_phone_changes_nothing(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    with pytest.raises(InvalidPhoneNumberError):
        customer_services.accounts.create("not a phone")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_right_code_verifies_once(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    created = customer_services.accounts.create("+821011112222")
    code = latest_code(sessions, created.phone_e164)
    verified = customer_services.phones.verify(created.verification_id, code)
    assert verified.customer_id == created.customer_id
    with sessions() as session:
        link = session.scalar(select(PhoneLink).where(PhoneLink.customer_id == created.customer_id))
        assert link is not None and link.verified_at is not None and link.last4 == "2222"
        row = session.get(PhoneVerification, created.verification_id)
        assert row is not None and code not in row.code_hash and len(row.code_hash) == 64
    with pytest.raises(VerificationFailedError) as info:
        customer_services.phones.verify(created.verification_id, code)
    assert info.value.reason == "already_used"


def test_wrong_codes_are_counted_and_exhaust_the_code(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    created = customer_services.accounts.create("+821011113333")
    code = latest_code(sessions, created.phone_e164)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with pytest.raises(VerificationFailedError) as info:
            customer_services.phones.verify(created.verification_id, wrong)
        assert info.value.reason == (
            "wrong_code" if attempt < MAX_ATTEMPTS else "too_many_attempts"
        )
    with pytest.raises(VerificationFailedError) as info:
        customer_services.phones.verify(created.verification_id, code)  # even the right one, now
    assert info.value.reason == "too_many_attempts"
    with sessions() as session:
        row = session.get(PhoneVerification, created.verification_id)
        assert row is not None and row.attempts == MAX_ATTEMPTS and row.verified_at is None


def test_expired_code_is_refused(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    created = customer_services.accounts.create("+821011114444")
    code = latest_code(sessions, created.phone_e164)
    with pytest.raises(VerificationFailedError) as info:
        customer_services.phones.verify(
            created.verification_id, code, now=utcnow() + timedelta(minutes=6)
        )
    assert info.value.reason == "expired"


def test_resend_is_throttled(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    created = customer_services.accounts.create("+821011115555")
    with pytest.raises(RateLimitedError) as info:
        customer_services.phones.request_code(created.phone_e164)
    assert 0 < info.value.retry_after_seconds <= 30
    now = utcnow()
    for i in range(1, MAX_CODES_PER_HOUR):
        customer_services.phones.request_code(
            created.phone_e164, now=now + timedelta(seconds=31 * i)
        )
    with pytest.raises(RateLimitedError):
        customer_services.phones.request_code(created.phone_e164, now=now + timedelta(minutes=10))
    # A newer code works; the old one still does too until it expires.
    assert latest_code(sessions, created.phone_e164).isdigit()


def test_registering_a_verified_phone_again_conflicts(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    verified_customer(customer_services, "+821011116666")
    with pytest.raises(PhoneAlreadyRegisteredError):
        customer_services.accounts.create("010-1111-6666")


def test_sign_in_on_a_new_device_by_code(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id = verified_customer(customer_services, "+821011117777")
    verification_id = customer_services.phones.request_code(
        "+821011117777", now=utcnow() + timedelta(seconds=31)
    )
    code = latest_code(sessions, "+821011117777")
    assert customer_services.phones.verify(verification_id, code).customer_id == customer_id


def test_session_tokens(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id = verified_customer(customer_services, "+821011118888")
    token, expires = customer_services.session_tokens.issue(customer_id)
    assert customer_services.session_tokens.authenticate(token) == customer_id
    head, payload, mac = token.split(".")
    for bad in (f"{head}.{payload}.{mac[:-2]}AA", f"{head}.{payload[:-2]}xx.{mac}", "nonsense"):
        with pytest.raises(AuthenticationError):
            customer_services.session_tokens.authenticate(bad)
    with pytest.raises(AuthenticationError, match="expired"):
        customer_services.session_tokens.authenticate(token, now=expires + timedelta(seconds=1))
    customer_services.accounts.delete(customer_id, actor="test")
    with pytest.raises(AuthenticationError, match="no longer exists"):
        customer_services.session_tokens.authenticate(token)


def test_creating_again_before_verifying_resumes_the_same_customer(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    first = customer_services.accounts.create("+821011119999")
    with pytest.raises(RateLimitedError):  # a retry within 30 s sends no second code
        customer_services.accounts.create("010-1111-9999")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1
        link = session.scalar(select(PhoneLink))
        assert link is not None and link.customer_id == first.customer_id
    later = customer_services.accounts.create("+821011119999", now=utcnow() + timedelta(seconds=31))
    assert later.customer_id == first.customer_id
    assert later.verification_id != first.verification_id


def test_simultaneous_sign_ups_for_one_number_make_one_customer(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def sign_up() -> None:
        barrier.wait()
        try:
            customer_services.accounts.create("+821011110000")
            outcomes.append("created")
        except (RateLimitedError, PhoneAlreadyRegisteredError) as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=sign_up) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("created") == 1 and len(outcomes) == 3
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1

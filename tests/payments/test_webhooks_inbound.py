"""Inbound Stripe webhooks: the signature scheme (cross-checked with the stripe SDK) and dedupe."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from payments.network_protocol import sign
from payments.webhook_models import InboundWebhookEvent
from payments.webhooks_inbound import (
    InboundStatus,
    WebhookPayloadError,
    WebhookSignatureError,
    compute_signature,
    handle_signed_webhook,
    handle_stripe_webhook,
    signature_header,
    verify_signature,
)

SECRET = "whsec_test_4f1c2d3e"
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _event(event_id: str = "evt_1", event_type: str = "payment_intent.succeeded") -> bytes:
    body = {"id": event_id, "object": "event", "type": event_type, "data": {"object": {}}}
    return json.dumps(body).encode()


def _stripe_header(payload: bytes, secret: str, timestamp: int) -> str:
    """Built the way Stripe documents it, independently of the code under test."""
    signed = f"{timestamp}.{payload.decode()}"
    return f"t={timestamp},v1={stripe.WebhookSignature._compute_signature(signed, secret)}"


def _count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(InboundWebhookEvent)) or 0)


# -- the signature scheme -----------------------------------------------------------------------


def test_our_verifier_accepts_stripe_sdk_signatures() -> None:
    payload = _event()
    ts = int(NOW.timestamp())
    assert verify_signature(payload, _stripe_header(payload, SECRET, ts), SECRET, NOW) == ts


def test_stripe_sdk_accepts_our_signatures() -> None:
    payload = _event()
    now = datetime.now(UTC)
    header = signature_header([SECRET], int(now.timestamp()), payload)
    assert stripe.WebhookSignature.verify_header(payload.decode(), header, SECRET, tolerance=300)
    event = stripe.Webhook.construct_event(payload.decode(), header, SECRET)
    assert event.id == "evt_1"


def test_sdk_and_ours_agree_on_tampering_and_staleness() -> None:
    payload = _event()
    now = datetime.now(UTC)
    stale = int(now.timestamp()) - 301
    cases = [
        (
            payload.replace(b"evt_1", b"evt_2"),
            signature_header([SECRET], int(now.timestamp()), payload),
        ),
        (payload, signature_header([SECRET], stale, payload)),
        (payload, signature_header(["whsec_other"], int(now.timestamp()), payload)),
    ]
    for body, header in cases:
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.WebhookSignature.verify_header(body.decode(), header, SECRET, tolerance=300)
        with pytest.raises(WebhookSignatureError):
            verify_signature(body, header, SECRET, now)


def test_multiple_v1_and_rotated_secrets() -> None:
    payload = _event()
    ts = int(NOW.timestamp())
    header = signature_header(["whsec_old", "whsec_new"], ts, payload)
    assert header.count("v1=") == 2
    verify_signature(payload, header, "whsec_new", NOW)
    verify_signature(payload, header, "whsec_old", NOW)
    verify_signature(
        payload, _stripe_header(payload, "whsec_new", ts), ["whsec_old", "whsec_new"], NOW
    )
    with pytest.raises(WebhookSignatureError, match="no signature matches"):
        verify_signature(payload, header, "whsec_unrelated", NOW)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("v1=abc", "no timestamp"),
        ("t=1700000000", "no v1"),
        ("t=abc,v1=00", "not a number"),
        ("t=1764147600,v0=" + "0" * 64, "no v1"),
    ],
)
def test_malformed_headers_rejected(header: str | None, reason: str) -> None:
    with pytest.raises(WebhookSignatureError, match=reason):
        verify_signature(_event(), header, SECRET, NOW)


@pytest.mark.parametrize("skew", [301, -301])
def test_tolerance_is_300_seconds_both_ways(skew: int) -> None:
    payload = _event()
    ts = int(NOW.timestamp())
    header = signature_header([SECRET], ts, payload)
    verify_signature(payload, header, SECRET, NOW + timedelta(seconds=300 if skew > 0 else -300))
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        verify_signature(payload, header, SECRET, NOW + timedelta(seconds=skew))


def test_signature_is_over_timestamp_dot_body() -> None:
    assert compute_signature("k", 12, b"{}") == stripe.WebhookSignature._compute_signature(
        "12.{}", "k"
    )


# -- handle_stripe_webhook: verification + dedupe in the database ------------------------------


def test_event_accepted_once_then_duplicate(engine: Engine) -> None:
    payload = _event("evt_dedupe")
    header = _stripe_header(payload, SECRET, int(NOW.timestamp()))
    with Session(engine) as session, session.begin():
        first = handle_stripe_webhook(session, payload, header, SECRET, NOW)
    assert first.status is InboundStatus.ACCEPTED
    assert first.event["type"] == "payment_intent.succeeded"
    # Stripe retries the same event later, freshly signed: still a duplicate.
    later = NOW + timedelta(hours=2)
    resigned = _stripe_header(payload, SECRET, int(later.timestamp()))
    with Session(engine) as session, session.begin():
        second = handle_stripe_webhook(session, payload, resigned, SECRET, later)
    assert second.status is InboundStatus.DUPLICATE
    assert not second.is_new
    assert _count(engine) == 1


def test_replayed_delivery_within_tolerance_is_duplicate(sqlite_engine: Engine) -> None:
    payload = _event("evt_replay")
    header = _stripe_header(payload, SECRET, int(NOW.timestamp()))
    outcomes = []
    for offset in (0, 60):
        with Session(sqlite_engine) as session, session.begin():
            outcomes.append(
                handle_stripe_webhook(
                    session, payload, header, SECRET, NOW + timedelta(seconds=offset)
                ).status
            )
    assert outcomes == [InboundStatus.ACCEPTED, InboundStatus.DUPLICATE]


def test_rejected_webhooks_change_nothing(sqlite_engine: Engine) -> None:
    payload = _event("evt_bad")
    good = _stripe_header(payload, SECRET, int(NOW.timestamp()))
    attempts = [
        (payload.replace(b"succeeded", b"canceled"), good, NOW),
        (payload, good, NOW + timedelta(seconds=301)),
        (payload, good.replace("v1=", "v1=0"), NOW),
        (payload, None, NOW),
    ]
    for body, header, now in attempts:
        with (
            Session(sqlite_engine) as session,
            session.begin(),
            pytest.raises(WebhookSignatureError),
        ):
            handle_stripe_webhook(session, body, header, SECRET, now)
    not_json = b"hello"
    with Session(sqlite_engine) as session, session.begin(), pytest.raises(WebhookPayloadError):
        handle_stripe_webhook(
            session, not_json, _stripe_header(not_json, SECRET, int(NOW.timestamp())), SECRET, NOW
        )
    assert _count(sqlite_engine) == 0


def test_concurrent_deliveries_of_one_event_accept_once(engine: Engine) -> None:
    payload = _event("evt_race")
    header = _stripe_header(payload, SECRET, int(NOW.timestamp()))
    statuses: list[InboundStatus] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        barrier.wait()
        for attempt in range(50):
            try:
                with Session(engine) as session, session.begin():
                    statuses.append(
                        handle_stripe_webhook(session, payload, header, SECRET, NOW).status
                    )
                return
            except Exception:  # SQLite may report "database is locked" under contention
                if attempt == 49:
                    raise

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [InboundStatus.ACCEPTED] + [InboundStatus.DUPLICATE] * 3
    assert _count(engine) == 1


def test_sandbox_network_notifications_share_the_scheme_and_dedupe_per_provider(
    sqlite_engine: Engine,
) -> None:
    secret = "network-notify-secret"
    body = json.dumps({"id": "evt_1", "type": "token.suspended", "token": "4895"}).encode()
    header = sign(secret, body, int(NOW.timestamp()))
    with Session(sqlite_engine) as session, session.begin():
        network = handle_signed_webhook(session, "sandbox_network", body, header, secret, NOW)
        # The same event id from another provider is a different event.
        stripe_body = _event("evt_1")
        stripe_header = _stripe_header(stripe_body, SECRET, int(NOW.timestamp()))
        from_stripe = handle_stripe_webhook(session, stripe_body, stripe_header, SECRET, NOW)
        again = handle_signed_webhook(session, "sandbox_network", body, header, secret, NOW)
    assert (network.status, from_stripe.status, again.status) == (
        InboundStatus.ACCEPTED,
        InboundStatus.ACCEPTED,
        InboundStatus.DUPLICATE,
    )
    assert network.event_type == "token.suspended"


@settings(max_examples=60, deadline=None)
@given(payload=st.binary(min_size=1, max_size=300), flip=st.integers(min_value=0))
def test_signed_payloads_verify_and_any_flipped_bit_does_not(payload: bytes, flip: int) -> None:
    header = signature_header([SECRET], int(NOW.timestamp()), payload)
    verify_signature(payload, header, SECRET, NOW)
    index = flip % len(payload)
    altered = payload[:index] + bytes([payload[index] ^ 0x80]) + payload[index + 1 :]
    with pytest.raises(WebhookSignatureError, match="no signature matches"):
        verify_signature(altered, header, SECRET, NOW)

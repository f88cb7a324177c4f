"""Webhook signatures in Stripe's scheme, and inbound signed webhooks (Stripe's, and any
sender using the same scheme, such as the sandbox network's token notifications).

The scheme (used by Stripe towards us and by us towards merchants and partners):
the header is ``t=<unix seconds>,v1=<hex>[,v1=<hex>...]`` where each v1 is
HMAC-SHA256 over ``f"{t}.{body}"`` with one of the endpoint's secrets. Several v1
values let a sender sign with an old and a new secret while a secret rotates.
A timestamp outside the tolerance is rejected, which bounds replays; accepted
events are also deduplicated by event id, which stops replays inside it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from payments.errors import InvalidRequestError
from payments.webhook_models import InboundWebhookEvent

DEFAULT_TOLERANCE_SECONDS = 300
SCHEME = "v1"


class WebhookSignatureError(InvalidRequestError):
    """The signature header is missing, malformed, stale or does not match."""


class WebhookPayloadError(InvalidRequestError):
    """The body is authentic but is not an event we can read."""


def compute_signature(secret: str, timestamp: int, payload: bytes) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, payload: bytes) -> str:
    """The header value signing `payload` at `timestamp` with every given secret."""
    if not secrets:
        raise ValueError("at least one signing secret is required")
    parts = [f"t={timestamp}"]
    parts += [f"{SCHEME}={compute_signature(s, timestamp, payload)}" for s in secrets]
    return ",".join(parts)


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            if not value.isdigit():
                raise WebhookSignatureError("signature timestamp is not a number")
            timestamp = int(value)
        elif name == SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise WebhookSignatureError("signature header has no timestamp")
    if not signatures:
        raise WebhookSignatureError(f"signature header has no {SCHEME} signature")
    return timestamp, signatures


def verify_signature(
    payload: bytes,
    header: str | None,
    secrets: str | Sequence[str],
    now: datetime,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Check a ``t=...,v1=...`` header; returns its timestamp or raises WebhookSignatureError."""
    if not header:
        raise WebhookSignatureError("missing signature header")
    candidates = [secrets] if isinstance(secrets, str) else list(secrets)
    timestamp, signatures = _parse_header(header)
    if abs(int(now.timestamp()) - timestamp) > tolerance_seconds:
        raise WebhookSignatureError("signature timestamp outside the tolerance")
    # Compare against every candidate so timing does not reveal which one matched.
    matched = False
    for secret in candidates:
        expected = compute_signature(secret, timestamp, payload)
        for signature in signatures:
            matched |= hmac.compare_digest(expected, signature)
    if not matched:
        raise WebhookSignatureError("no signature matches the payload")
    return timestamp


class InboundStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class InboundWebhookOutcome:
    """What the endpoint should do: process `event` when ACCEPTED; acknowledge either way."""

    status: InboundStatus
    event_id: str
    event_type: str
    event: dict[str, Any]

    @property
    def is_new(self) -> bool:
        return self.status is InboundStatus.ACCEPTED


def _parse_event(payload: bytes) -> dict[str, Any]:
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookPayloadError("webhook body is not JSON") from exc
    if not isinstance(event, dict):
        raise WebhookPayloadError("webhook body is not an event object")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 255:
        raise WebhookPayloadError("event has no usable id")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 120:
        raise WebhookPayloadError("event has no usable type")
    return event


def record_inbound_event(
    session: Session, provider: str, event: dict[str, Any], payload: bytes, now: datetime
) -> bool:
    """Insert the dedupe row; False when this provider's event id was seen before.

    INSERT ... ON CONFLICT DO NOTHING keeps this correct when two deliveries of one
    event race: exactly one insert wins, on SQLite and on PostgreSQL.
    """
    values = {
        "provider": provider,
        "event_id": event["id"],
        "event_type": event["type"],
        "received_at": now,
        "payload": payload,
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        upsert = postgresql.insert(InboundWebhookEvent).values(values).on_conflict_do_nothing()
        statement = upsert.returning(InboundWebhookEvent.event_id)
    elif dialect == "sqlite":
        lite = sqlite.insert(InboundWebhookEvent).values(values).on_conflict_do_nothing()
        statement = lite.returning(InboundWebhookEvent.event_id)
    else:
        raise NotImplementedError(f"inbound webhook dedupe does not support {dialect}")
    return session.execute(statement).first() is not None


def handle_signed_webhook(
    session: Session,
    provider: str,
    payload: bytes,
    header: str | None,
    secret: str | Sequence[str],
    now: datetime,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> InboundWebhookOutcome:
    """Verify a ``t=...,v1=...`` signed event from `provider` and record it once.

    Raises WebhookSignatureError / WebhookPayloadError having changed nothing. The
    caller owns the transaction: commit after processing an ACCEPTED event, so that a
    crash mid-processing lets the sender's retry run it again."""
    if not provider or len(provider) > 40:
        raise ValueError("provider must be 1-40 characters")
    verify_signature(payload, header, secret, now, tolerance_seconds=tolerance_seconds)
    event = _parse_event(payload)
    is_new = record_inbound_event(session, provider, event, payload, now)
    return InboundWebhookOutcome(
        status=InboundStatus.ACCEPTED if is_new else InboundStatus.DUPLICATE,
        event_id=event["id"],
        event_type=event["type"],
        event=event,
    )


def handle_stripe_webhook(
    session: Session,
    payload: bytes,
    header: str | None,
    secret: str | Sequence[str],
    now: datetime,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> InboundWebhookOutcome:
    """A Stripe webhook (header ``Stripe-Signature``); see handle_signed_webhook."""
    return handle_signed_webhook(
        session, "stripe", payload, header, secret, now, tolerance_seconds=tolerance_seconds
    )

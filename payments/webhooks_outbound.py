"""Outbound webhooks to merchants and partners: persisted, signed, retried, dead-lettered.

An event becomes one delivery per subscribed endpoint. `deliver_due` sends the
deliveries whose time has come, each signed afresh (``FacePay-Signature:
t=...,v1=...``, the Stripe scheme, see webhooks_inbound) so a receiver's
timestamp tolerance never rejects a late retry. A failure schedules the next
attempt with exponential backoff and jitter; once a delivery is older than the
retry window (3 days by default) it is dead-lettered. `redeliver` puts any
delivery, dead or delivered, back in the queue with a fresh window.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from payments.db import utcnow, write_transaction
from payments.errors import InvalidRequestError, NotFoundError
from payments.webhook_models import (
    WebhookAttempt,
    WebhookDeadLetter,
    WebhookDelivery,
    WebhookEndpoint,
)
from payments.webhooks_inbound import signature_header

SIGNATURE_HEADER = "FacePay-Signature"
EVENT_ID_HEADER = "FacePay-Event-Id"
DELIVERY_ID_HEADER = "FacePay-Delivery-Id"
_MAX_ERROR_CHARS = 500


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=6)
    retry_window: timedelta = timedelta(days=3)

    def delay(self, failures: int, rng: random.Random) -> timedelta:
        """Exponential in the number of failures, capped, with jitter in [50 %, 100 %]
        so that receivers coming back after an outage are not hit all at once."""
        ceiling = min(self.first_delay * 2 ** max(failures - 1, 0), self.max_delay)
        return timedelta(seconds=ceiling.total_seconds() * rng.uniform(0.5, 1.0))


@dataclass(frozen=True)
class DeliveryReport:
    delivered: list[str]
    retrying: list[str]
    dead_lettered: list[str]


def _validate_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or len(url) > 2000:
        raise InvalidRequestError(f"webhook URL must be an absolute http(s) URL: {url!r}")
    return url


def register_endpoint(
    session: Session,
    url: str,
    now: datetime,
    *,
    secret: str | None = None,
    event_types: Iterable[str] = (),
) -> WebhookEndpoint:
    """Add a receiver. Without `secret` one is generated; give it to the receiver once."""
    types = sorted(set(event_types))
    if any(not t or " " in t for t in types):
        raise InvalidRequestError("event types must be non-empty and contain no spaces")
    if secret is not None and len(secret) < 16:
        raise InvalidRequestError("a webhook secret needs at least 16 characters")
    endpoint = WebhookEndpoint(
        id=f"we_{uuid.uuid4().hex}",
        url=_validate_url(url),
        secret=secret or f"whsec_{secrets.token_urlsafe(32)}",
        event_types=" ".join(types),
        active=True,
        created_at=now,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def publish_event(
    session: Session,
    event_type: str,
    data: Mapping[str, Any],
    now: datetime,
    *,
    event_id: str | None = None,
    policy: RetryPolicy | None = None,
) -> list[WebhookDelivery]:
    """Queue `event_type` for every active endpoint subscribed to it; returns the deliveries."""
    if not event_type or " " in event_type:
        raise InvalidRequestError(f"invalid event type {event_type!r}")
    policy = policy or RetryPolicy()
    event_id = event_id or f"evt_{uuid.uuid4().hex}"
    body = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(now.timestamp()),
        "data": {"object": dict(data)},
    }
    try:
        payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"event data is not JSON-serialisable: {exc}") from exc
    endpoints = session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))
    ).all()
    deliveries = [
        WebhookDelivery(
            id=f"wd_{uuid.uuid4().hex}",
            endpoint_id=endpoint.id,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            status=DeliveryStatus.PENDING.value,
            attempt_count=0,
            next_attempt_at=now,
            deadline_at=now + policy.retry_window,
            created_at=now,
        )
        for endpoint in endpoints
        if not endpoint.event_types or event_type in endpoint.event_types.split()
    ]
    session.add_all(deliveries)
    session.flush()
    return deliveries


@dataclass(frozen=True)
class _Job:
    """What one attempt needs, read inside a transaction and sent outside it."""

    delivery_id: str
    event_id: str
    url: str
    secret: str
    payload: bytes
    endpoint_active: bool


def _claim_due(session: Session, now: datetime, limit: int) -> list[_Job]:
    """Due deliveries, locked with SKIP LOCKED on PostgreSQL so workers share the queue."""
    due = session.scalars(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    jobs = []
    for delivery in due:
        endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id)
        jobs.append(
            _Job(
                delivery.id,
                delivery.event_id,
                endpoint.url,
                endpoint.secret,
                delivery.payload,
                endpoint.active,
            )
        )
    return jobs


def _send(client: httpx.Client, job: _Job, now: datetime) -> tuple[int | None, str | None]:
    if not job.endpoint_active:
        return None, "endpoint disabled"
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header([job.secret], int(now.timestamp()), job.payload),
        EVENT_ID_HEADER: job.event_id,
        DELIVERY_ID_HEADER: job.delivery_id,
    }
    try:
        # Only the status matters; streaming means a receiver's large body is never read.
        with client.stream("POST", job.url, content=job.payload, headers=headers) as response:
            status = response.status_code
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
    if 200 <= status < 300:
        return status, None
    return status, f"HTTP {status}"


def _dead_letter(session: Session, delivery: WebhookDelivery, now: datetime, reason: str) -> None:
    delivery.status = DeliveryStatus.DEAD.value
    delivery.next_attempt_at = None
    letter = session.get(WebhookDeadLetter, delivery.id)
    if letter is None:
        session.add(WebhookDeadLetter(delivery_id=delivery.id, dead_at=now, reason=reason))
    else:
        letter.dead_at, letter.reason, letter.redelivered_at = now, reason, None


def _record(
    session: Session,
    job: _Job,
    result: tuple[int | None, str | None],
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    report: DeliveryReport,
) -> None:
    delivery = session.get_one(WebhookDelivery, job.delivery_id, with_for_update=True)
    if not job.endpoint_active:
        _dead_letter(session, delivery, now, "endpoint disabled")
        report.dead_lettered.append(delivery.id)
        return
    status_code, error = result
    delivery.attempt_count += 1
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id, attempted_at=now, status_code=status_code, error=error
        )
    )
    if error is None:
        delivery.status = DeliveryStatus.DELIVERED.value
        delivery.delivered_at, delivery.next_attempt_at, delivery.last_error = now, None, None
        report.delivered.append(delivery.id)
        return
    delivery.last_error = error
    if now >= delivery.deadline_at:
        reason = f"gave up after {delivery.attempt_count} attempts: {error}"
        _dead_letter(session, delivery, now, reason)
        report.dead_lettered.append(delivery.id)
        return
    # The last retry lands exactly on the deadline rather than being skipped.
    delivery.next_attempt_at = min(
        now + policy.delay(delivery.attempt_count, rng), delivery.deadline_at
    )
    report.retrying.append(delivery.id)


def deliver_due(
    session: Session,
    client: httpx.Client,
    now: datetime,
    *,
    policy: RetryPolicy | None = None,
    limit: int = 50,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Attempt every pending delivery due at `now` (at most `limit`) within the caller's
    transaction; the caller commits. Row locks are held during the HTTP calls, so a
    long-running process should use run_delivery_worker, which holds none."""
    policy, rng = policy or RetryPolicy(), rng or random.Random()
    report = DeliveryReport([], [], [])
    for job in _claim_due(session, now, limit):
        _record(session, job, _send(client, job, now), now, policy, rng, report)
    session.flush()
    return report


def run_delivery_worker(
    engine: Engine,
    client: httpx.Client,
    stop: threading.Event,
    *,
    poll_seconds: float = 5.0,
    lease: timedelta = timedelta(minutes=5),
    clock: Callable[[], datetime] = utcnow,
    policy: RetryPolicy | None = None,
    limit: int = 20,
) -> None:
    """Deliver due webhooks until `stop` is set, never holding a write lock during HTTP.

    Each batch is claimed (its next attempt pushed out by `lease`) in one short
    transaction, sent, and recorded in another. If the worker dies in between, the
    lease expires and the batch is sent again: delivery is at least once, and
    receivers deduplicate by event id."""
    policy, rng = policy or RetryPolicy(), random.Random()
    while not stop.is_set():
        now = clock()
        with write_transaction(engine) as session:
            jobs = _claim_due(session, now, limit)
            for job in jobs:
                session.get_one(WebhookDelivery, job.delivery_id).next_attempt_at = now + lease
        if not jobs:
            stop.wait(poll_seconds)
            continue
        results = [(job, _send(client, job, now)) for job in jobs]
        report = DeliveryReport([], [], [])
        with write_transaction(engine) as session:
            for job, result in results:
                _record(session, job, result, now, policy, rng, report)


def redeliver(
    session: Session, delivery_id: str, now: datetime, *, policy: RetryPolicy | None = None
) -> WebhookDelivery:
    """Queue a delivery again now, whatever its state, with a fresh retry window."""
    policy = policy or RetryPolicy()
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise NotFoundError(f"no webhook delivery {delivery_id!r}")
    delivery.status = DeliveryStatus.PENDING.value
    delivery.next_attempt_at = now
    delivery.deadline_at = now + policy.retry_window
    letter = session.get(WebhookDeadLetter, delivery_id)
    if letter is not None and letter.redelivered_at is None:
        letter.redelivered_at = now
    session.flush()
    return delivery


def dead_letters(session: Session) -> list[WebhookDeadLetter]:
    """Dead letters not yet redelivered, oldest first."""
    return list(
        session.scalars(
            select(WebhookDeadLetter)
            .where(WebhookDeadLetter.redelivered_at.is_(None))
            .order_by(WebhookDeadLetter.dead_at)
        )
    )

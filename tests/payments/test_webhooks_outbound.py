"""Outbound webhooks against a real local HTTP receiver, with an injected clock.

Tests of the delivery state machine run on SQLite and PostgreSQL (`engine`); those about
signing, subscriptions and input checks only on SQLite (`sqlite_engine`), to keep the
suite fast."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from payments.errors import InvalidRequestError, NotFoundError
from payments.webhook_models import WebhookAttempt, WebhookDeadLetter, WebhookDelivery
from payments.webhooks_inbound import verify_signature
from payments.webhooks_outbound import (
    SIGNATURE_HEADER,
    DeliveryStatus,
    RetryPolicy,
    dead_letters,
    deliver_due,
    publish_event,
    redeliver,
    register_endpoint,
    run_delivery_worker,
)

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SECRET = "whsec_merchant_0123456789"


class Receiver:
    """A merchant's webhook endpoint: records requests, answers with scripted statuses."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as http:
        yield http


def _publish(engine: Engine, url: str, now: datetime = T0) -> str:
    with Session(engine) as session, session.begin():
        register_endpoint(session, url, now, secret=SECRET)
        (delivery,) = publish_event(session, "receipt.issued", {"amount": 1250}, now)
        return delivery.id


def _deliver(engine: Engine, client: httpx.Client, now: datetime, seed: int = 7) -> Any:
    with Session(engine) as session, session.begin():
        return deliver_due(session, client, now, rng=random.Random(seed))


def _delivery(engine: Engine, delivery_id: str) -> WebhookDelivery:
    with Session(engine, expire_on_commit=False) as session:
        return session.get_one(WebhookDelivery, delivery_id)


def test_delivered_signed_payload(engine: Engine, receiver: Receiver, client: httpx.Client) -> None:
    delivery_id = _publish(engine, receiver.url)
    report = _deliver(engine, client, T0)
    assert report.delivered == [delivery_id]
    ((headers, body),) = receiver.received
    verify_signature(body, headers[SIGNATURE_HEADER.lower()], SECRET, T0)
    assert headers["facepay-delivery-id"] == delivery_id
    assert b'"amount":1250' in body
    stored = _delivery(engine, delivery_id)
    assert (stored.status, stored.attempt_count, stored.delivered_at) == ("delivered", 1, T0)
    assert _deliver(engine, client, T0 + timedelta(days=1)).delivered == []


def test_receivers_can_verify_with_the_stripe_sdk(
    sqlite_engine: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    now = datetime.now(UTC)
    _publish(sqlite_engine, receiver.url, now)
    _deliver(sqlite_engine, client, now)
    ((headers, body),) = receiver.received
    assert stripe.WebhookSignature.verify_header(
        body.decode(), headers[SIGNATURE_HEADER.lower()], SECRET, tolerance=300
    )


def test_failures_back_off_exponentially_with_jitter_then_deliver(
    engine: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    receiver.statuses = [500, 503, 404, 200]
    delivery_id = _publish(engine, receiver.url)
    policy = RetryPolicy()
    now, gaps = T0, []
    for failures in range(1, 4):
        assert _deliver(engine, client, now).retrying == [delivery_id]
        due = _delivery(engine, delivery_id).next_attempt_at
        assert due is not None
        gap = due - now
        ceiling = policy.first_delay * 2 ** (failures - 1)
        assert ceiling / 2 <= gap <= ceiling
        # Not yet due: nothing is sent a moment before.
        assert _deliver(engine, client, due - timedelta(seconds=1)).retrying == []
        gaps.append(gap)
        now = due
    assert _deliver(engine, client, now).delivered == [delivery_id]
    assert len(receiver.received) == 4
    with Session(engine) as session:
        codes = session.scalars(
            select(WebhookAttempt.status_code)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.id)
        ).all()
    assert codes == [500, 503, 404, 200]


def test_dead_lettered_after_three_days_then_redelivered(
    engine: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    receiver.statuses = [500] * 1000
    delivery_id = _publish(engine, receiver.url)
    now, attempts = T0, 0
    while True:
        report = _deliver(engine, client, now, seed=attempts)
        attempts += 1
        if report.dead_lettered:
            break
        due = _delivery(engine, delivery_id).next_attempt_at
        assert due is not None
        now = due
    assert now == T0 + timedelta(days=3)
    assert 15 <= attempts <= 30  # capped at 6 h between tries, so a handful per day
    stored = _delivery(engine, delivery_id)
    assert (stored.status, stored.next_attempt_at) == ("dead", None)
    with Session(engine) as session:
        (letter,) = dead_letters(session)
        assert letter.delivery_id == delivery_id
        assert "gave up" in letter.reason
    assert _deliver(engine, client, now + timedelta(days=10)).retrying == []

    receiver.statuses = []
    later = now + timedelta(days=1)
    with Session(engine) as session, session.begin():
        redeliver(session, delivery_id, later)
    assert _deliver(engine, client, later).delivered == [delivery_id]
    with Session(engine) as session:
        assert dead_letters(session) == []
        letter = session.get_one(WebhookDeadLetter, delivery_id)
        assert letter.redelivered_at == later


def test_redeliver_a_delivered_event_sends_it_again(
    sqlite_engine: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    delivery_id = _publish(sqlite_engine, receiver.url)
    _deliver(sqlite_engine, client, T0)
    with Session(sqlite_engine) as session, session.begin():
        redeliver(session, delivery_id, T0 + timedelta(hours=1))
    _deliver(sqlite_engine, client, T0 + timedelta(hours=1))
    assert len(receiver.received) == 2
    assert receiver.received[0][1] == receiver.received[1][1]
    assert _delivery(sqlite_engine, delivery_id).status == DeliveryStatus.DELIVERED


def test_unreachable_endpoint_is_retried(sqlite_engine: Engine, client: httpx.Client) -> None:
    delivery_id = _publish(sqlite_engine, "http://127.0.0.1:9/hooks")
    report = _deliver(sqlite_engine, client, T0)
    assert report.retrying == [delivery_id]
    assert "ConnectError" in (_delivery(sqlite_engine, delivery_id).last_error or "")


def test_event_type_subscriptions(sqlite_engine: Engine, receiver: Receiver) -> None:
    with Session(sqlite_engine) as session, session.begin():
        register_endpoint(session, receiver.url, T0, event_types=["refund.created"])
        register_endpoint(session, receiver.url, T0)
        assert len(publish_event(session, "receipt.issued", {}, T0)) == 1
        assert len(publish_event(session, "refund.created", {}, T0)) == 2


def test_bad_input_is_rejected_and_changes_nothing(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        for url in ("ftp://x.test/h", "/relative", "http://"):
            with pytest.raises(InvalidRequestError):
                register_endpoint(session, url, T0)
        with pytest.raises(InvalidRequestError):
            register_endpoint(session, "https://x.test/h", T0, secret="short")
        with pytest.raises(InvalidRequestError):
            publish_event(session, "bad type", {}, T0)
        with pytest.raises(InvalidRequestError):
            publish_event(session, "x.y", {"when": T0}, T0)
        with pytest.raises(NotFoundError):
            redeliver(session, "wd_missing", T0)
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_worker_delivers_until_stopped(
    sqlite_engine: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    delivery_id = _publish(sqlite_engine, receiver.url, datetime.now(UTC))
    stop = threading.Event()
    worker = threading.Thread(
        target=run_delivery_worker,
        args=(sqlite_engine, client, stop),
        kwargs={"poll_seconds": 0.05},
    )
    worker.start()
    try:
        for _ in range(200):
            if _delivery(sqlite_engine, delivery_id).status == DeliveryStatus.DELIVERED:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert _delivery(sqlite_engine, delivery_id).status == DeliveryStatus.DELIVERED
    assert len(receiver.received) == 1


class _WorkerDied(BaseException):
    pass


class _DieWhileSending(httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise _WorkerDied


def test_worker_that_dies_mid_batch_resends_after_its_lease(
    sqlite_engine: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    delivery_id = _publish(sqlite_engine, receiver.url)
    lease = timedelta(minutes=5)
    with httpx.Client(transport=_DieWhileSending()) as dying, pytest.raises(_WorkerDied):
        run_delivery_worker(sqlite_engine, dying, threading.Event(), lease=lease, clock=lambda: T0)
    claimed = _delivery(sqlite_engine, delivery_id)
    assert (claimed.status, claimed.attempt_count, claimed.next_attempt_at) == (
        "pending",
        0,
        T0 + lease,
    )
    assert _deliver(sqlite_engine, client, T0 + lease - timedelta(seconds=1)).delivered == []
    assert _deliver(sqlite_engine, client, T0 + lease).delivered == [delivery_id]

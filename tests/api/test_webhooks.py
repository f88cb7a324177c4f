"""The Stripe webhook endpoint: signed, fresh and new events only."""

from __future__ import annotations

import json
import time
from pathlib import Path

from litestar.testing import TestClient

from api.app import create_app
from facepay.db.engine import open_database
from facepay.db.migrate import upgrade
from facepay.keys.store import init_keys
from facepay.processor_settings import ProcessorSettings, StripeSettings
from facepay.settings import Settings
from payments.webhooks_inbound import signature_header

SECRET = "whsec_test_0123456789abcdef"


def _client(tmp_path: Path, secret: str | None = SECRET) -> TestClient:  # type: ignore[type-arg]
    stripe = StripeSettings(secret_key="sk_test_unused", webhook_secret=secret)
    settings = Settings(data_dir=tmp_path, processors=ProcessorSettings(stripe=stripe))
    _ready(settings)
    return TestClient(app=create_app(settings))


def _ready(settings: Settings) -> None:
    init_keys(settings.keys_dir)
    with open_database(settings.effective_database_url) as db:
        upgrade(db.engine)


def _event(event_id: str) -> bytes:
    return json.dumps({"id": event_id, "type": "payment_intent.succeeded", "data": {}}).encode()


def test_signed_event_is_accepted_once(tmp_path: Path) -> None:
    body = _event("evt_1")
    header = signature_header([SECRET], int(time.time()), body)
    with _client(tmp_path) as client:
        first = client.post(
            "/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": header}
        )
        again = client.post(
            "/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": header}
        )
    assert first.status_code == 200
    assert first.json() == {"event_id": "evt_1", "duplicate": False}
    assert again.json() == {"event_id": "evt_1", "duplicate": True}


def test_bad_stale_and_missing_signatures_are_problems(tmp_path: Path) -> None:
    body = _event("evt_2")
    stale = signature_header([SECRET], int(time.time()) - 301, body)
    forged = signature_header(["whsec_someone_else"], int(time.time()), body)
    with _client(tmp_path) as client:
        for headers in ({"Stripe-Signature": stale}, {"Stripe-Signature": forged}, {}):
            response = client.post("/v1/webhooks/stripe", content=body, headers=headers)
            assert response.status_code == 400
            assert response.headers["content-type"].startswith("application/problem+json")


def test_endpoint_is_off_without_a_secret(tmp_path: Path) -> None:
    with _client(tmp_path, secret=None) as client:
        response = client.post("/v1/webhooks/stripe", content=_event("evt_3"))
    assert response.status_code == 404


def test_endpoint_is_off_without_the_stripe_processor(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)  # the sandbox alone
    _ready(settings)
    body = _event("evt_off")
    header = signature_header([SECRET], int(time.time()), body)
    with TestClient(app=create_app(settings)) as client:
        answer = client.post(
            "/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": header}
        )
    assert answer.status_code == 404

"""The Stripe test double enforces the documented PaymentIntent rules (driven by the real SDK).

If the double were lax, the processor tests against it would prove nothing; these
tests pin the rules the processor relies on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from stripe_double import StripeDouble, parse_form, running_double

from payments.webhooks_inbound import InboundStatus, handle_stripe_webhook

pytestmark = pytest.mark.filterwarnings("ignore:Use .content=:DeprecationWarning")


@pytest.fixture(scope="module")
def double() -> Iterator[StripeDouble]:
    with running_double() as running:
        yield running


@pytest.fixture(scope="module")
def client(double: StripeDouble) -> Any:
    return stripe.StripeClient(
        double.api_key,
        base_addresses={"api": double.url},
        max_network_retries=0,
        http_client=stripe.HTTPXClient(timeout=5.0, allow_sync_methods=True),
    ).v1


def _held(client: Any, amount: int = 1000, card: str = "pm_card_visa") -> Any:
    return client.payment_intents.create(
        {
            "amount": amount,
            "currency": "usd",
            "payment_method": card,
            "capture_method": "manual",
            "confirm": True,
        }
    )


def test_status_progression(client: Any) -> None:
    intent = client.payment_intents.create({"amount": 500, "currency": "usd"})
    assert intent.status == "requires_payment_method"
    with pytest.raises(stripe.InvalidRequestError) as unconfirmable:
        client.payment_intents.confirm(intent.id)
    assert unconfirmable.value.code == "payment_intent_unexpected_state"
    intent = client.payment_intents.create(
        {
            "amount": 500,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
        }
    )
    assert intent.status == "requires_confirmation"
    intent = client.payment_intents.confirm(intent.id)
    assert (intent.status, intent.amount_capturable) == ("requires_capture", 500)
    intent = client.payment_intents.capture(intent.id)
    assert (intent.status, intent.amount_received, intent.amount_capturable) == (
        "succeeded",
        500,
        0,
    )


def test_automatic_capture_succeeds_at_once(client: Any) -> None:
    intent = client.payment_intents.create(
        {"amount": 700, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    assert (intent.status, intent.amount_received) == ("succeeded", 700)


def test_capture_rules(client: Any) -> None:
    intent = _held(client, 1000)
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.payment_intents.capture(intent.id, {"amount_to_capture": 1001})
    assert too_much.value.code == "amount_too_large"
    partial = client.payment_intents.capture(intent.id, {"amount_to_capture": 400})
    assert (partial.amount_received, partial.amount_capturable) == (400, 0)
    with pytest.raises(stripe.InvalidRequestError, match="status of succeeded"):
        client.payment_intents.capture(intent.id)
    with pytest.raises(stripe.InvalidRequestError, match="status of succeeded"):
        client.payment_intents.cancel(intent.id)


def test_cancel_rules(client: Any) -> None:
    intent = _held(client)
    canceled = client.payment_intents.cancel(intent.id, {"cancellation_reason": "abandoned"})
    assert (canceled.status, canceled.amount_capturable) == ("canceled", 0)
    for action in (client.payment_intents.capture, client.payment_intents.cancel):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            action(intent.id)
        assert refused.value.code == "payment_intent_unexpected_state"


def test_decline_leaves_intent_requiring_payment_method(client: Any) -> None:
    with pytest.raises(stripe.CardError) as declined:
        _held(client, card="pm_card_chargeDeclinedInsufficientFunds")
    assert declined.value.http_status == 402
    error = declined.value.error
    assert (error.code, error.decline_code) == ("card_declined", "insufficient_funds")
    assert error.payment_intent.status == "requires_payment_method"
    assert error.payment_intent.last_payment_error.decline_code == "insufficient_funds"


def test_increment_rules(client: Any) -> None:
    plain = _held(client)  # incremental authorization was not requested
    with pytest.raises(stripe.InvalidRequestError) as unavailable:
        client.payment_intents.increment_authorization(plain.id, {"amount": 1500})
    assert unavailable.value.code == "incremental_authorization_unavailable"
    intent = client.payment_intents.create(
        {
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
            "confirm": True,
            "payment_method_options": {
                "card": {"request_incremental_authorization": "if_available"}
            },
        }
    )
    with pytest.raises(stripe.InvalidRequestError, match="greater than the current"):
        client.payment_intents.increment_authorization(intent.id, {"amount": 1000})
    raised = client.payment_intents.increment_authorization(intent.id, {"amount": 1600})
    assert (raised.amount, raised.amount_capturable) == (1600, 1600)


def test_refunds_up_to_amount_received(client: Any) -> None:
    intent = _held(client, 1000)
    with pytest.raises(stripe.InvalidRequestError, match="cannot be refunded"):
        client.refunds.create({"payment_intent": intent.id})
    client.payment_intents.capture(intent.id, {"amount_to_capture": 600})
    assert client.refunds.create({"payment_intent": intent.id, "amount": 200}).amount == 200
    with pytest.raises(stripe.InvalidRequestError) as beyond:
        client.refunds.create({"payment_intent": intent.id, "amount": 401})
    assert beyond.value.code == "amount_too_large"
    assert client.refunds.create({"payment_intent": intent.id}).amount == 400
    with pytest.raises(stripe.InvalidRequestError) as already:
        client.refunds.create({"payment_intent": intent.id, "amount": 1})
    assert already.value.code == "charge_already_refunded"


def test_idempotency_replay_and_error(double: StripeDouble, client: Any) -> None:
    params = {"amount": 800, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    first = client.payment_intents.create(params, {"idempotency_key": "double-key-1"})
    second = client.payment_intents.create(params, {"idempotency_key": "double-key-1"})
    assert first.id == second.id
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    assert sum(1 for pi in double.state.intents.values() if pi["amount"] == 800) == 1
    with pytest.raises(stripe.IdempotencyError) as conflict:
        client.payment_intents.create(
            {**params, "amount": 801}, {"idempotency_key": "double-key-1"}
        )
    assert conflict.value.http_status == 400
    # A replayed decline is the same decline, not a second attempt.
    declining = {**params, "payment_method": "pm_card_chargeDeclinedLostCard"}
    for _ in range(2):
        with pytest.raises(stripe.CardError, match="lost_card"):
            client.payment_intents.create(declining, {"idempotency_key": "double-key-2"})


def test_search_lags_but_listing_pages_consistently(double: StripeDouble, client: Any) -> None:
    tag = {"metadata": {"batch": "paging"}}
    made = [
        client.payment_intents.create({"amount": 100 + i, "currency": "usd", **tag})
        for i in range(5)
    ]
    query = {"query": "metadata['batch']:'paging'"}
    assert len(client.payment_intents.search(query).data) == 5
    double.state.search_lag_seconds = 3600
    try:
        assert client.payment_intents.search(query).data == []
        listed = client.payment_intents.list({"limit": 2})
        assert listed.has_more
        seen = [pi.id for pi in listed.auto_paging_iter()]
    finally:
        double.state.search_lag_seconds = 0.0
    assert seen[:5] == [pi.id for pi in reversed(made)]
    assert len(seen) == len(set(seen)) == len(double.state.intents)


def test_requires_a_secret_key_and_known_objects(double: StripeDouble) -> None:
    unauthenticated = httpx.get(f"{double.url}/v1/payment_intents/pi_x")
    assert unauthenticated.status_code == 401
    headers = {"Authorization": f"Bearer {double.api_key}"}
    missing = httpx.get(f"{double.url}/v1/payment_intents/pi_missing", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"
    bad = httpx.post(
        f"{double.url}/v1/payment_intents",
        headers=headers,
        content="amount=12.5&currency=usd",
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "type": "invalid_request_error",
        "message": "Invalid integer: 12.5",
        "param": "amount",
        "code": "parameter_invalid",
    }


def test_form_decoding_matches_stripe_encoding() -> None:
    decoded = parse_form(
        "metadata[facepay_key]=k&expand[0]=latest_charge&expand[1]=customer"
        "&payment_method_options[card][request_incremental_authorization]=if_available"
    )
    assert decoded == {
        "metadata": {"facepay_key": "k"},
        "expand": ["latest_charge", "customer"],
        "payment_method_options": {"card": {"request_incremental_authorization": "if_available"}},
    }


def test_events_are_signed_like_stripe_and_accepted_once(
    double: StripeDouble, client: Any, sqlite_engine: Engine
) -> None:
    intent = _held(client, 1200)
    client.payment_intents.capture(intent.id, {"amount_to_capture": 1000})
    client.refunds.create({"payment_intent": intent.id, "amount": 400})
    secret, now = "whsec_double_test", datetime.now(UTC)
    signed = double.signed_events(secret, int(now.timestamp()))
    mine = [
        (body, header)
        for body, header in signed
        if json.loads(body)["data"]["object"].get("id") == intent.id
        or json.loads(body)["data"]["object"].get("payment_intent") == intent.id
    ]
    types = [json.loads(body)["type"] for body, _ in mine]
    assert types == [
        "payment_intent.amount_capturable_updated",
        "payment_intent.succeeded",
        "charge.refunded",
    ]
    for body, header in mine:
        assert stripe.WebhookSignature.verify_header(body.decode(), header, secret, tolerance=300)
    with Session(sqlite_engine) as session, session.begin():
        first = [handle_stripe_webhook(session, b, h, secret, now).status for b, h in mine]
        again = [handle_stripe_webhook(session, b, h, secret, now).status for b, h in mine]
    assert set(first) == {InboundStatus.ACCEPTED}
    assert set(again) == {InboundStatus.DUPLICATE}

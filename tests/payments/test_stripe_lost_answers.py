"""Lost answers from Stripe: a timeout or a dropped response is an unknown outcome, and
querying with our idempotency key finds what Stripe actually did."""

from __future__ import annotations

import pytest
from stripe_double import StripeDouble
from test_stripe_processor import (
    _key,
    _processor,
    _usd,
    double,
    link_stripe_card,
    processor,
)

from payments.errors import UnknownOutcomeError
from payments.processor import OperationKind
from payments.processors.stripe_processor import StripeProcessor

# Module-scoped fixtures shared with test_stripe_processor (each module gets its own).
__all__ = ["double", "processor"]

pytestmark = pytest.mark.filterwarnings("ignore:Use .content=:DeprecationWarning")


def test_timeout_is_unknown_and_query_recovers_the_hold(double: StripeDouble) -> None:
    impatient = _processor(double, timeout_seconds=0.5, max_network_retries=0)
    patient = _processor(double, max_network_retries=0)
    method = link_stripe_card(double, patient, "pm_card_slowNetwork")
    key = _key("hold")
    with pytest.raises(UnknownOutcomeError):
        impatient.authorize(
            payment_method=method, amount=_usd(650), merchant_ref="cab-1", idempotency_key=key
        )
    found = patient.query_operation(kind=OperationKind.AUTHORIZE, idempotency_key=key)
    assert found is not None
    assert found.approved
    assert found.authorized == _usd(650)
    assert patient.query_operation(kind=OperationKind.AUTHORIZE, idempotency_key=_key("x")) is None
    impatient.close()
    patient.close()


def test_lost_hold_found_while_search_still_lags(
    double: StripeDouble, processor: StripeProcessor
) -> None:
    method = link_stripe_card(double, processor, "pm_card_visa")
    others = [_key("other") for _ in range(3)]
    for other in others:  # other intents around it in the listing
        processor.authorize(
            payment_method=method, amount=_usd(100), merchant_ref="cab-1", idempotency_key=other
        )
    key = _key("hold")
    double.state.search_lag_seconds = 3600
    try:
        double.drop_next_responses(1)
        with pytest.raises(UnknownOutcomeError):
            processor.authorize(
                payment_method=method, amount=_usd(990), merchant_ref="cab-1", idempotency_key=key
            )
        for other in others:
            processor.authorize(
                payment_method=method, amount=_usd(100), merchant_ref="cab-1", idempotency_key=other
            )
        found = processor.query_operation(kind=OperationKind.AUTHORIZE, idempotency_key=key)
    finally:
        double.state.search_lag_seconds = 0.0
    assert found is not None
    assert found.approved
    assert found.authorized == _usd(990)


@pytest.mark.parametrize("step", ["capture", "void", "refund", "increment"])
def test_lost_response_is_unknown_then_query_and_retry_agree(
    double: StripeDouble, processor: StripeProcessor, step: str
) -> None:
    method = link_stripe_card(double, processor, "pm_card_visa")
    hold = processor.authorize(
        payment_method=method, amount=_usd(1000), merchant_ref="cab-1", idempotency_key=_key("hold")
    )
    ref = hold.authorization_ref
    assert ref is not None
    if step == "refund":
        processor.capture(authorization_ref=ref, amount=_usd(1000), idempotency_key=_key("cap"))
    key = _key(step)
    kind = {
        "capture": OperationKind.CAPTURE,
        "void": OperationKind.VOID,
        "refund": OperationKind.REFUND,
        "increment": OperationKind.INCREMENT,
    }[step]

    def run() -> object:
        if step == "capture":
            return processor.capture(authorization_ref=ref, amount=_usd(600), idempotency_key=key)
        if step == "void":
            return processor.void(authorization_ref=ref, idempotency_key=key)
        if step == "refund":
            return processor.refund(authorization_ref=ref, amount=_usd(400), idempotency_key=key)
        return processor.increment_authorization(
            authorization_ref=ref, additional=_usd(250), idempotency_key=key
        )

    assert processor.query_operation(kind=kind, idempotency_key=key, authorization_ref=ref) is None
    double.drop_next_responses(1)
    with pytest.raises(UnknownOutcomeError):
        run()
    found = processor.query_operation(kind=kind, idempotency_key=key, authorization_ref=ref)
    assert found is not None
    assert found.approved
    retried = run()
    assert getattr(retried, "approved", False)
    intent = double.state.intent(ref)
    charge = double.state.charge(intent["latest_charge"])
    expected = {
        "capture": ("succeeded", 1000, 600, 0),
        "void": ("canceled", 1000, 0, 0),
        "refund": ("succeeded", 1000, 1000, 400),
        "increment": ("requires_capture", 1250, 0, 0),
    }[step]
    observed = (
        intent["status"],
        intent["amount"],
        intent["amount_received"],
        charge["amount_refunded"],
    )
    assert observed == expected

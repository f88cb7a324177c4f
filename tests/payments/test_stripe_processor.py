"""The Stripe processor through the real `stripe` SDK against the local Stripe test double."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stripe_double import StripeDouble, running_double

from payments.errors import (
    IdempotencyConflictError,
    InvalidAmountError,
    LinkNotCompletedError,
    ProcessorError,
    ProcessorUnavailableError,
    UnknownOutcomeError,
)
from payments.money import Money
from payments.processor import DeclineCode, OperationKind, PaymentMethod, Processor
from payments.processors.stripe_processor import StripeConfig, StripeProcessor

# The stripe SDK's httpx client posts form bodies with `data=`, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use .content=:DeprecationWarning")


@pytest.fixture(scope="module")
def double() -> Iterator[StripeDouble]:
    with running_double() as running:
        yield running


def _processor(double: StripeDouble, **overrides: object) -> StripeProcessor:
    config = StripeConfig(api_key=double.api_key, api_base=double.url, timeout_seconds=5.0)
    return StripeProcessor(StripeConfig(**{**config.__dict__, **overrides}))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def processor(double: StripeDouble) -> Iterator[StripeProcessor]:
    proc = _processor(double, max_network_retries=0)
    yield proc
    proc.close()


_counter = iter(range(1_000_000))


def _key(step: str) -> str:
    return f"purchase-{next(_counter)}:{step}"


def link_stripe_card(
    double: StripeDouble, processor: StripeProcessor, test_card: str
) -> PaymentMethod:
    session = processor.begin_link(
        customer_ref="cust-1",
        return_url="https://facepay.test/linked",
        idempotency_key=_key("link"),
    )
    assert session.client_secret
    assert session.setup_ref.startswith("seti_")
    # What Stripe.js does on the customer's phone: confirm the SetupIntent with the card.
    double.state.confirm_setup_intent(session.setup_ref, {"payment_method": test_card})
    return processor.complete_link(setup_ref=session.setup_ref, idempotency_key=_key("done"))


def _usd(cents: int) -> Money:
    return Money(cents, "USD")


def test_implements_processor_protocol(processor: StripeProcessor) -> None:
    assert isinstance(processor, Processor)


def test_link_through_setup_intent(double: StripeDouble, processor: StripeProcessor) -> None:
    method = link_stripe_card(double, processor, "pm_card_visa")
    assert (method.processor, method.brand, method.last4) == ("stripe", "visa", "4242")
    assert method.token_ref.startswith("cus_")
    assert "/pm_" in method.token_ref
    assert "4242424242424242" not in repr(method)


def test_complete_link_before_card_entered_is_rejected(processor: StripeProcessor) -> None:
    session = processor.begin_link(
        customer_ref="cust-2", return_url="https://x.test", idempotency_key=_key("link")
    )
    with pytest.raises(LinkNotCompletedError, match="requires_payment_method"):
        processor.complete_link(setup_ref=session.setup_ref, idempotency_key=_key("done"))


def test_approve_then_partial_capture_releases_remainder(
    double: StripeDouble, processor: StripeProcessor
) -> None:
    method = link_stripe_card(double, processor, "pm_card_visa")
    hold = processor.authorize(
        payment_method=method, amount=_usd(2000), merchant_ref="cab-1", idempotency_key=_key("hold")
    )
    assert hold.approved
    assert hold.authorized == _usd(2000)
    assert hold.authorization_ref is not None
    intent = double.state.intent(hold.authorization_ref)
    assert (intent["status"], intent["capture_method"], intent["amount_capturable"]) == (
        "requires_capture",
        "manual",
        2000,
    )
    capture = processor.capture(
        authorization_ref=hold.authorization_ref, amount=_usd(1250), idempotency_key=_key("cap")
    )
    assert capture.approved
    assert capture.captured == _usd(1250)
    assert (intent["status"], intent["amount_received"], intent["amount_capturable"]) == (
        "succeeded",
        1250,
        0,
    )
    again = processor.capture(
        authorization_ref=hold.authorization_ref, amount=_usd(100), idempotency_key=_key("cap2")
    )
    assert again.decline_code is DeclineCode.AUTHORIZATION_NOT_ACTIVE


@pytest.mark.parametrize(
    ("test_card", "code"),
    [
        ("pm_card_chargeDeclinedInsufficientFunds", DeclineCode.INSUFFICIENT_FUNDS),
        ("pm_card_chargeDeclinedDoNotHonor", DeclineCode.DO_NOT_HONOR),
        ("pm_card_chargeDeclinedExpiredCard", DeclineCode.EXPIRED_CARD),
        ("pm_card_chargeDeclinedLostCard", DeclineCode.LOST_OR_STOLEN),
        ("pm_card_chargeDeclinedStolenCard", DeclineCode.LOST_OR_STOLEN),
    ],
)
def test_each_decline(
    double: StripeDouble, processor: StripeProcessor, test_card: str, code: DeclineCode
) -> None:
    method = link_stripe_card(double, processor, test_card)
    key = _key("hold")
    outcome = processor.authorize(
        payment_method=method, amount=_usd(900), merchant_ref="cab-1", idempotency_key=key
    )
    assert not outcome.approved
    assert outcome.decline_code is code
    found = processor.query_operation(kind=OperationKind.AUTHORIZE, idempotency_key=key)
    assert found is not None
    assert found.decline_code is code


def test_capture_beyond_hold_declines_and_changes_nothing(
    double: StripeDouble, processor: StripeProcessor
) -> None:
    method = link_stripe_card(double, processor, "pm_card_visa")
    hold = processor.authorize(
        payment_method=method, amount=_usd(500), merchant_ref="cab-1", idempotency_key=_key("hold")
    )
    assert hold.authorization_ref is not None
    too_much = processor.capture(
        authorization_ref=hold.authorization_ref, amount=_usd(501), idempotency_key=_key("cap")
    )
    assert too_much.decline_code is DeclineCode.AMOUNT_EXCEEDS_AUTHORIZATION
    assert double.state.intent(hold.authorization_ref)["status"] == "requires_capture"


def test_hold_then_void(double: StripeDouble, processor: StripeProcessor) -> None:
    method = link_stripe_card(double, processor, "pm_card_visa")
    hold = processor.authorize(
        payment_method=method, amount=_usd(700), merchant_ref="cab-1", idempotency_key=_key("hold")
    )
    assert hold.authorization_ref is not None
    void = processor.void(authorization_ref=hold.authorization_ref, idempotency_key=_key("void"))
    assert void.approved
    assert void.amount == _usd(700)
    assert double.state.intent(hold.authorization_ref)["status"] == "canceled"
    late = processor.capture(
        authorization_ref=hold.authorization_ref, amount=_usd(100), idempotency_key=_key("cap")
    )
    assert late.decline_code is DeclineCode.AUTHORIZATION_NOT_ACTIVE


def test_increment_where_supported(double: StripeDouble, processor: StripeProcessor) -> None:
    method = link_stripe_card(double, processor, "pm_card_visa")
    hold = processor.authorize(
        payment_method=method, amount=_usd(1000), merchant_ref="cab-1", idempotency_key=_key("hold")
    )
    assert hold.authorization_ref is not None
    key = _key("inc")
    raised = processor.increment_authorization(
        authorization_ref=hold.authorization_ref, additional=_usd(400), idempotency_key=key
    )
    assert raised.approved
    assert raised.authorized == _usd(1400)
    # A retry with the same key (after a restart) does not raise the hold twice.
    retried = processor.increment_authorization(
        authorization_ref=hold.authorization_ref, additional=_usd(400), idempotency_key=key
    )
    assert retried.approved
    assert double.state.intent(hold.authorization_ref)["amount"] == 1400
    capture = processor.capture(
        authorization_ref=hold.authorization_ref, amount=_usd(1400), idempotency_key=_key("cap")
    )
    assert capture.captured == _usd(1400)


def test_increment_over_card_limit_declines_and_keeps_hold(
    double: StripeDouble, processor: StripeProcessor
) -> None:
    method = link_stripe_card(double, processor, "pm_card_visa_limit5000")
    hold = processor.authorize(
        payment_method=method, amount=_usd(4000), merchant_ref="cab-1", idempotency_key=_key("hold")
    )
    assert hold.authorization_ref is not None
    outcome = processor.increment_authorization(
        authorization_ref=hold.authorization_ref, additional=_usd(2000), idempotency_key=_key("inc")
    )
    assert outcome.decline_code is DeclineCode.INSUFFICIENT_FUNDS
    intent = double.state.intent(hold.authorization_ref)
    assert (intent["status"], intent["amount_capturable"]) == ("requires_capture", 4000)


def test_refund_partial_full_and_beyond(double: StripeDouble, processor: StripeProcessor) -> None:
    method = link_stripe_card(double, processor, "pm_card_visa")
    hold = processor.authorize(
        payment_method=method, amount=_usd(3000), merchant_ref="cab-1", idempotency_key=_key("hold")
    )
    ref = hold.authorization_ref
    assert ref is not None
    processor.capture(authorization_ref=ref, amount=_usd(2500), idempotency_key=_key("cap"))
    early = processor.refund(authorization_ref=ref, amount=_usd(1000), idempotency_key=_key("r1"))
    assert early.approved
    assert early.refunded == _usd(1000)
    beyond = processor.refund(authorization_ref=ref, amount=_usd(1501), idempotency_key=_key("r2"))
    assert beyond.decline_code is DeclineCode.AMOUNT_EXCEEDS_AUTHORIZATION
    rest = processor.refund(authorization_ref=ref, amount=_usd(1500), idempotency_key=_key("r3"))
    assert rest.approved
    assert rest.refunded == _usd(2500)
    more = processor.refund(authorization_ref=ref, amount=_usd(1), idempotency_key=_key("r4"))
    assert more.decline_code is DeclineCode.AMOUNT_EXCEEDS_AUTHORIZATION


def test_refund_of_uncaptured_hold_declines(
    double: StripeDouble, processor: StripeProcessor
) -> None:
    method = link_stripe_card(double, processor, "pm_card_visa")
    hold = processor.authorize(
        payment_method=method, amount=_usd(300), merchant_ref="cab-1", idempotency_key=_key("hold")
    )
    assert hold.authorization_ref is not None
    outcome = processor.refund(
        authorization_ref=hold.authorization_ref, amount=_usd(100), idempotency_key=_key("r")
    )
    assert outcome.decline_code is DeclineCode.AUTHORIZATION_NOT_ACTIVE


def test_same_key_replays_instead_of_charging_twice(
    double: StripeDouble, processor: StripeProcessor
) -> None:
    method = link_stripe_card(double, processor, "pm_card_visa")
    key = _key("hold")
    first = processor.authorize(
        payment_method=method, amount=_usd(800), merchant_ref="cab-1", idempotency_key=key
    )
    second = processor.authorize(
        payment_method=method, amount=_usd(800), merchant_ref="cab-1", idempotency_key=key
    )
    assert first.authorization_ref == second.authorization_ref
    sent = [k for (m, path, k) in double.requests if path == "/v1/payment_intents" and m == "POST"]
    assert sent.count(f"facepay-authorize-{key}") == 2
    with pytest.raises(IdempotencyConflictError):
        processor.authorize(
            payment_method=method, amount=_usd(801), merchant_ref="cab-1", idempotency_key=key
        )


def test_unreachable_stripe_is_unavailable() -> None:
    down = StripeProcessor(
        StripeConfig(api_key="sk_test_x", api_base="http://127.0.0.1:9", max_network_retries=0)
    )
    with pytest.raises(ProcessorUnavailableError) as raised:
        down.void(authorization_ref="pi_123", idempotency_key="k")
    assert not isinstance(raised.value, UnknownOutcomeError)


def test_bad_input_is_rejected_before_any_request(
    double: StripeDouble, processor: StripeProcessor
) -> None:
    before = len(double.requests)
    bogus = PaymentMethod("stripe", "not-a-token", "visa", "4242", 12, 2030)
    with pytest.raises(ProcessorError, match="token reference"):
        processor.authorize(
            payment_method=bogus, amount=_usd(100), merchant_ref="cab", idempotency_key="k"
        )
    sandbox_token = PaymentMethod("sandbox", "4895370000000001", "visa", "0001", 12, 2030)
    with pytest.raises(ProcessorError, match="belongs to 'sandbox'"):
        processor.authorize(
            payment_method=sandbox_token, amount=_usd(100), merchant_ref="cab", idempotency_key="k"
        )
    with pytest.raises(InvalidAmountError):
        processor.capture(authorization_ref="pi_1", amount=_usd(0), idempotency_key="k")
    assert len(double.requests) == before


def test_unknown_intent_is_a_processor_error(processor: StripeProcessor) -> None:
    with pytest.raises(ProcessorError, match="No such payment_intent"):
        processor.void(authorization_ref="pi_missing", idempotency_key=_key("v"))
    with pytest.raises(ProcessorError, match="No such payment_intent"):
        processor.capture(authorization_ref="pi_missing", amount=_usd(1), idempotency_key="k")
    with pytest.raises(ProcessorError, match="No such payment_intent"):
        processor.query_operation(
            kind=OperationKind.CAPTURE, idempotency_key="k", authorization_ref="pi_missing"
        )


def test_wrong_api_key_is_a_processor_error(double: StripeDouble) -> None:
    wrong = StripeProcessor(StripeConfig(api_key="sk_test_wrong", api_base=double.url))
    with pytest.raises(ProcessorError, match="credentials"):
        wrong.void(authorization_ref="pi_123", idempotency_key="k")

"""Cards without incremental authorization: a basket larger than the hold is covered by a
second charge that travels with the first hold under one authorization_ref."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stripe_double import StripeDouble, running_double
from test_stripe_processor import link_stripe_card

from payments.errors import UnknownOutcomeError
from payments.money import Money
from payments.processor import DeclineCode, OperationKind
from payments.processors.stripe_hold_group import allocate
from payments.processors.stripe_processor import StripeConfig, StripeProcessor

pytestmark = pytest.mark.filterwarnings("ignore:Use .content=:DeprecationWarning")


@pytest.fixture(scope="module")
def double() -> Iterator[StripeDouble]:
    with running_double() as running:
        yield running


@pytest.fixture(scope="module")
def processor(double: StripeDouble) -> Iterator[StripeProcessor]:
    config = StripeConfig(api_key=double.api_key, api_base=double.url, max_network_retries=0)
    proc = StripeProcessor(config)
    yield proc
    proc.close()


_counter = iter(range(1_000_000))


def _key(step: str) -> str:
    return f"basket-{next(_counter)}:{step}"


def _usd(cents: int) -> Money:
    return Money(cents, "USD")


def _grown_hold(
    double: StripeDouble, processor: StripeProcessor, card: str = "pm_card_amex"
) -> tuple[str, str]:
    """A 10.00 hold on a card without incremental authorization, grown by 3.00."""
    method = link_stripe_card(double, processor, card)
    hold = processor.authorize(
        payment_method=method, amount=_usd(1000), merchant_ref="cab-1", idempotency_key=_key("h")
    )
    assert hold.authorization_ref is not None
    grown = processor.increment_authorization(
        authorization_ref=hold.authorization_ref, additional=_usd(300), idempotency_key=_key("i")
    )
    assert grown.approved
    assert grown.authorized == _usd(1300)
    (extra,) = double.state.intent(hold.authorization_ref)["metadata"]["facepay_extra_holds"].split(
        ","
    )
    return hold.authorization_ref, extra


def _intent(double: StripeDouble, intent_id: str) -> tuple[str, int, int]:
    pi = double.state.intent(intent_id)
    return pi["status"], pi["amount"], pi["amount_received"]


def test_second_charge_is_a_separate_manual_hold_on_the_same_card(
    double: StripeDouble, processor: StripeProcessor
) -> None:
    ref, extra = _grown_hold(double, processor)
    original, second = double.state.intent(ref), double.state.intent(extra)
    assert _intent(double, ref) == ("requires_capture", 1000, 0)
    assert _intent(double, extra) == ("requires_capture", 300, 0)
    assert (second["customer"], second["payment_method"]) == (
        original["customer"],
        original["payment_method"],
    )
    assert second["capture_method"] == "manual"


def test_retried_increment_does_not_charge_twice(
    double: StripeDouble, processor: StripeProcessor
) -> None:
    method = link_stripe_card(double, processor, "pm_card_amex")
    hold = processor.authorize(
        payment_method=method, amount=_usd(1000), merchant_ref="cab-1", idempotency_key=_key("h")
    )
    ref = hold.authorization_ref
    assert ref is not None
    key = _key("i")
    double.drop_next_responses(1)  # the second charge is made, its answer lost
    with pytest.raises(UnknownOutcomeError):
        processor.increment_authorization(
            authorization_ref=ref, additional=_usd(300), idempotency_key=key
        )
    assert (
        processor.query_operation(
            kind=OperationKind.INCREMENT, idempotency_key=key, authorization_ref=ref
        )
        is None
    )  # not linked to the hold yet: not applied as far as FacePay is concerned
    for _ in range(2):
        again = processor.increment_authorization(
            authorization_ref=ref, additional=_usd(300), idempotency_key=key
        )
        assert again.authorized == _usd(1300)
    extras = [pi for pi in double.state.intents.values() if pi["amount"] == 300]
    assert len([pi for pi in extras if pi["metadata"].get("facepay_second_charge_for") == ref]) == 1
    found = processor.query_operation(
        kind=OperationKind.INCREMENT, idempotency_key=key, authorization_ref=ref
    )
    assert found is not None
    assert found.amount == _usd(300)


def test_capture_spreads_over_the_group(double: StripeDouble, processor: StripeProcessor) -> None:
    ref, extra = _grown_hold(double, processor)
    capture = processor.capture(authorization_ref=ref, amount=_usd(1150), idempotency_key=_key("c"))
    assert capture.approved
    assert capture.captured == _usd(1150)
    assert _intent(double, ref) == ("succeeded", 1000, 1000)
    assert _intent(double, extra) == ("succeeded", 300, 150)  # the rest is released


def test_small_basket_releases_the_unneeded_second_charge(
    double: StripeDouble, processor: StripeProcessor
) -> None:
    ref, extra = _grown_hold(double, processor)
    capture = processor.capture(authorization_ref=ref, amount=_usd(800), idempotency_key=_key("c"))
    assert capture.captured == _usd(800)
    assert _intent(double, extra) == ("canceled", 300, 0)
    too_much = processor.capture(authorization_ref=ref, amount=_usd(1), idempotency_key=_key("c"))
    assert too_much.decline_code is DeclineCode.AUTHORIZATION_NOT_ACTIVE


def test_capture_beyond_the_group_declines(
    double: StripeDouble, processor: StripeProcessor
) -> None:
    ref, extra = _grown_hold(double, processor)
    outcome = processor.capture(authorization_ref=ref, amount=_usd(1301), idempotency_key="k")
    assert outcome.decline_code is DeclineCode.AMOUNT_EXCEEDS_AUTHORIZATION
    assert _intent(double, ref)[0] == _intent(double, extra)[0] == "requires_capture"


def test_void_releases_every_part(double: StripeDouble, processor: StripeProcessor) -> None:
    ref, extra = _grown_hold(double, processor)
    void = processor.void(authorization_ref=ref, idempotency_key=_key("v"))
    assert void.approved
    assert void.amount == _usd(1300)
    assert _intent(double, ref)[0] == _intent(double, extra)[0] == "canceled"


def test_refunds_spread_over_the_group(double: StripeDouble, processor: StripeProcessor) -> None:
    ref, extra = _grown_hold(double, processor)
    processor.capture(authorization_ref=ref, amount=_usd(1200), idempotency_key=_key("c"))
    key = _key("r")
    double.drop_next_responses(1)  # the first part is applied, its answer lost
    with pytest.raises(UnknownOutcomeError):
        processor.refund(authorization_ref=ref, amount=_usd(1100), idempotency_key=key)
    found = processor.query_operation(
        kind=OperationKind.REFUND, idempotency_key=key, authorization_ref=ref
    )
    assert found is None  # one of two parts: not a finished refund
    refund = processor.refund(authorization_ref=ref, amount=_usd(1100), idempotency_key=key)
    assert refund.refunded == _usd(1100)
    charges = [double.state.charge(double.state.intent(i)["latest_charge"]) for i in (ref, extra)]
    assert [c["amount_refunded"] for c in charges] == [1000, 100]
    found = processor.query_operation(
        kind=OperationKind.REFUND, idempotency_key=key, authorization_ref=ref
    )
    assert found is not None
    assert found.amount == _usd(1100)
    beyond = processor.refund(authorization_ref=ref, amount=_usd(101), idempotency_key=_key("r"))
    assert beyond.decline_code is DeclineCode.AMOUNT_EXCEEDS_AUTHORIZATION
    rest = processor.refund(authorization_ref=ref, amount=_usd(100), idempotency_key=_key("r"))
    assert rest.refunded == _usd(1200)


def test_declined_second_charge_keeps_the_hold(
    double: StripeDouble, processor: StripeProcessor
) -> None:
    method = link_stripe_card(double, processor, "pm_card_amex_limit5000")
    hold = processor.authorize(
        payment_method=method, amount=_usd(1000), merchant_ref="cab-1", idempotency_key=_key("h")
    )
    ref = hold.authorization_ref
    assert ref is not None
    outcome = processor.increment_authorization(
        authorization_ref=ref, additional=_usd(6000), idempotency_key=_key("i")
    )
    assert outcome.decline_code is DeclineCode.INSUFFICIENT_FUNDS
    assert outcome.authorization_ref == ref
    assert "facepay_extra_holds" not in double.state.intent(ref)["metadata"]
    assert _intent(double, ref) == ("requires_capture", 1000, 0)


@given(
    amount=st.integers(min_value=0, max_value=10_000),
    capacities=st.lists(st.integers(min_value=0, max_value=5_000), min_size=1, max_size=5),
)
def test_allocation_fills_in_order_and_never_exceeds_a_part(
    amount: int, capacities: list[int]
) -> None:
    parts = allocate(amount, capacities)
    if amount > sum(capacities):
        assert parts is None
        return
    assert parts is not None
    assert sum(parts) == amount
    assert all(0 <= part <= cap for part, cap in zip(parts, capacities, strict=True))
    # Greedy: a later part is used only once every earlier part is full.
    for index, part in enumerate(parts):
        if part:
            assert parts[:index] == capacities[:index]

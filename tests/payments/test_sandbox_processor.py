"""Every sandbox-processor path over real HTTP against the sandbox network."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest
from sandbox_network_server import MERCHANT_ID, SandboxServer

from card_network.cards import TOKEN_BIN, Behaviour, luhn_valid
from payments.errors import ProcessorError, ProcessorUnavailableError, UnknownOutcomeError
from payments.money import Money
from payments.processor import DeclineCode, OperationKind, OutcomeStatus, PaymentMethod, Processor
from payments.processors.sandbox import SandboxProcessor

Enroll = Callable[..., PaymentMethod]
VISA = "4242424242424242"


def key() -> str:
    return uuid.uuid4().hex


def credit(sandbox: SandboxServer, pan: str, currency: str = "USD") -> dict[str, int]:
    response = sandbox.admin("GET", f"/admin/cards/{pan}/credit/{currency}")
    assert response.status_code == 200
    data: dict[str, int] = response.json()
    return data


def test_processor_satisfies_protocol(processor: SandboxProcessor) -> None:
    assert isinstance(processor, Processor)


def test_link_issues_a_network_token_not_the_card(enroll: Enroll) -> None:
    method = enroll(VISA)
    assert method.token_ref != VISA
    assert method.token_ref.startswith(TOKEN_BIN) and luhn_valid(method.token_ref)
    assert (method.brand, method.last4, method.exp_month, method.exp_year) == (
        "visa",
        "4242",
        12,
        2031,
    )
    assert method.credential is not None and len(method.credential) == 32
    assert VISA not in repr(method)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"pan": "4242424242424241"}, "card number is not valid"),
        ({"exp_year": "2001"}, "card has expired"),
        ({"exp_month": "13"}, "expiry month"),
        ({"cvc": "1"}, "security code"),
    ],
)
def test_hosted_page_rejects_bad_cards(
    processor: SandboxProcessor, fields: dict[str, str], message: str
) -> None:
    session = processor.begin_link(
        customer_ref="c", return_url="https://facepay.test/done", idempotency_key=key()
    )
    assert session.redirect_url is not None
    form = {"pan": VISA, "exp_month": "12", "exp_year": "2031", "cvc": "123", **fields}
    page = httpx.post(session.redirect_url, data=form, timeout=5)
    assert page.status_code == 400
    assert message in page.text
    with pytest.raises(ProcessorError):
        processor.complete_link(setup_ref=session.setup_ref, idempotency_key=key())


def test_hold_partial_capture_releases_remainder(
    sandbox: SandboxServer, processor: SandboxProcessor, enroll: Enroll
) -> None:
    method = enroll("5555555555554444")
    before = credit(sandbox, "5555555555554444")
    hold = processor.authorize(
        payment_method=method,
        amount=Money(5_000, "USD"),
        merchant_ref=MERCHANT_ID,
        idempotency_key=key(),
    )
    assert hold.approved and hold.authorization_ref
    assert credit(sandbox, "5555555555554444")["available"] == before["available"] - 5_000
    captured = processor.capture(
        authorization_ref=hold.authorization_ref,
        amount=Money(3_250, "USD"),
        idempotency_key=key(),
    )
    assert captured.approved and captured.captured == Money(3_250, "USD")
    after = credit(sandbox, "5555555555554444")
    assert after["available"] == before["available"] - 3_250
    assert after["held"] == before["held"]
    again = processor.capture(
        authorization_ref=hold.authorization_ref, amount=Money(1, "USD"), idempotency_key=key()
    )
    assert again.decline_code is DeclineCode.AUTHORIZATION_NOT_ACTIVE


@pytest.mark.parametrize(
    ("pan", "code"),
    [
        ("4000000000009995", DeclineCode.INSUFFICIENT_FUNDS),
        ("4000000000000002", DeclineCode.DO_NOT_HONOR),
        ("4000000000000069", DeclineCode.EXPIRED_CARD),
        ("4000000000009987", DeclineCode.LOST_OR_STOLEN),
    ],
)
def test_each_decline(
    sandbox: SandboxServer,
    processor: SandboxProcessor,
    enroll: Enroll,
    pan: str,
    code: DeclineCode,
) -> None:
    method = enroll(pan)
    before = credit(sandbox, pan)
    outcome = processor.authorize(
        payment_method=method,
        amount=Money(100, "USD"),
        merchant_ref=MERCHANT_ID,
        idempotency_key=key(),
    )
    assert outcome.status is OutcomeStatus.DECLINED
    assert outcome.decline_code is code
    assert outcome.authorization_ref is None
    assert credit(sandbox, pan) == before


def test_timeout_is_an_unknown_outcome_resolved_by_query(
    sandbox: SandboxServer, processor: SandboxProcessor, enroll: Enroll
) -> None:
    method = enroll("4000000000000119")
    k = key()
    with pytest.raises(UnknownOutcomeError):
        processor.authorize(
            payment_method=method,
            amount=Money(700, "USD"),
            merchant_ref=MERCHANT_ID,
            idempotency_key=k,
        )
    found = processor.query_operation(kind=OperationKind.AUTHORIZE, idempotency_key=k)
    assert found is not None and found.approved and found.amount == Money(700, "USD")
    assert processor.query_operation(kind=OperationKind.AUTHORIZE, idempotency_key=key()) is None


def test_unavailable_issuer_applies_nothing(processor: SandboxProcessor, enroll: Enroll) -> None:
    method = enroll("4000000000000127")
    k = key()
    with pytest.raises(ProcessorUnavailableError) as info:
        processor.authorize(
            payment_method=method,
            amount=Money(700, "USD"),
            merchant_ref=MERCHANT_ID,
            idempotency_key=k,
        )
    assert not isinstance(info.value, UnknownOutcomeError)
    assert processor.query_operation(kind=OperationKind.AUTHORIZE, idempotency_key=k) is None


def test_hold_then_void_restores_credit(
    sandbox: SandboxServer, processor: SandboxProcessor, enroll: Enroll
) -> None:
    method = enroll(VISA)
    before = credit(sandbox, VISA, "KRW")
    hold = processor.authorize(
        payment_method=method,
        amount=Money(15_000, "KRW"),
        merchant_ref=MERCHANT_ID,
        idempotency_key=key(),
    )
    assert hold.approved and hold.authorization_ref
    voided = processor.void(authorization_ref=hold.authorization_ref, idempotency_key=key())
    assert voided.approved and voided.amount == Money(15_000, "KRW")
    assert credit(sandbox, VISA, "KRW") == before
    late = processor.capture(
        authorization_ref=hold.authorization_ref, amount=Money(1, "KRW"), idempotency_key=key()
    )
    assert late.decline_code is DeclineCode.AUTHORIZATION_NOT_ACTIVE


def test_increment_within_and_beyond_credit(
    sandbox: SandboxServer, processor: SandboxProcessor, enroll: Enroll
) -> None:
    pan = "4000000000003410"  # 5,000 limit
    sandbox.admin("POST", f"/admin/cards/{pan}/limit", json={"limit": 5_000})
    method = enroll(pan)
    hold = processor.authorize(
        payment_method=method,
        amount=Money(3_000, "EUR"),
        merchant_ref=MERCHANT_ID,
        idempotency_key=key(),
    )
    assert hold.approved and hold.authorization_ref
    ref = hold.authorization_ref
    more = processor.increment_authorization(
        authorization_ref=ref, additional=Money(1_500, "EUR"), idempotency_key=key()
    )
    assert more.approved and more.authorized == Money(4_500, "EUR")
    too_much = processor.increment_authorization(
        authorization_ref=ref, additional=Money(1_000, "EUR"), idempotency_key=key()
    )
    assert too_much.decline_code is DeclineCode.INSUFFICIENT_FUNDS
    assert credit(sandbox, pan, "EUR")["available"] == 500
    done = processor.capture(
        authorization_ref=ref, amount=Money(4_500, "EUR"), idempotency_key=key()
    )
    assert done.approved and credit(sandbox, pan, "EUR")["available"] == 500


def test_refunds_partial_full_and_beyond(
    sandbox: SandboxServer, processor: SandboxProcessor, enroll: Enroll
) -> None:
    method = enroll(VISA)
    hold = processor.authorize(
        payment_method=method,
        amount=Money(1_000, "JPY"),
        merchant_ref=MERCHANT_ID,
        idempotency_key=key(),
    )
    assert hold.authorization_ref
    ref = hold.authorization_ref
    early = processor.refund(authorization_ref=ref, amount=Money(1, "JPY"), idempotency_key=key())
    assert early.decline_code is DeclineCode.AUTHORIZATION_NOT_ACTIVE
    processor.capture(authorization_ref=ref, amount=Money(800, "JPY"), idempotency_key=key())
    before = credit(sandbox, VISA, "JPY")
    part = processor.refund(authorization_ref=ref, amount=Money(300, "JPY"), idempotency_key=key())
    assert part.approved and part.refunded == Money(300, "JPY")
    with pytest.raises(ProcessorError, match="refund exceeds"):
        processor.refund(authorization_ref=ref, amount=Money(501, "JPY"), idempotency_key=key())
    rest = processor.refund(authorization_ref=ref, amount=Money(500, "JPY"), idempotency_key=key())
    assert rest.approved and rest.refunded == Money(800, "JPY")
    assert credit(sandbox, VISA, "JPY")["available"] == before["available"] + 800


def test_replay_with_same_key_does_not_act_twice(
    sandbox: SandboxServer, processor: SandboxProcessor, enroll: Enroll
) -> None:
    method = enroll(VISA)
    hold = processor.authorize(
        payment_method=method,
        amount=Money(900, "GBP"),
        merchant_ref=MERCHANT_ID,
        idempotency_key=key(),
    )
    assert hold.authorization_ref
    k = key()
    first = processor.capture(
        authorization_ref=hold.authorization_ref, amount=Money(400, "GBP"), idempotency_key=k
    )
    second = processor.capture(
        authorization_ref=hold.authorization_ref, amount=Money(400, "GBP"), idempotency_key=k
    )
    assert first == second and first.approved
    with pytest.raises(ProcessorError):
        processor.capture(
            authorization_ref=hold.authorization_ref, amount=Money(401, "GBP"), idempotency_key=k
        )
    assert credit(sandbox, VISA, "GBP")["posted"] >= 400


@pytest.mark.parametrize("kind", [OperationKind.CAPTURE, OperationKind.VOID])
def test_injected_timeout_and_unavailable_on_follow_ups(
    sandbox: SandboxServer, processor: SandboxProcessor, enroll: Enroll, kind: OperationKind
) -> None:
    method = enroll(VISA)
    hold = processor.authorize(
        payment_method=method,
        amount=Money(600, "USD"),
        merchant_ref=MERCHANT_ID,
        idempotency_key=key(),
    )
    assert hold.authorization_ref
    ref = hold.authorization_ref

    def call(k: str) -> object:
        if kind is OperationKind.CAPTURE:
            return processor.capture(
                authorization_ref=ref, amount=Money(600, "USD"), idempotency_key=k
            )
        return processor.void(authorization_ref=ref, idempotency_key=k)

    sandbox.network.inject_fault(kind, Behaviour.UNAVAILABLE)
    k1 = key()
    with pytest.raises(ProcessorUnavailableError):
        call(k1)
    assert processor.query_operation(kind=kind, idempotency_key=k1, authorization_ref=ref) is None
    sandbox.network.inject_fault(kind, Behaviour.TIMEOUT)
    k2 = key()
    with pytest.raises(UnknownOutcomeError):
        call(k2)
    found = processor.query_operation(kind=kind, idempotency_key=k2, authorization_ref=ref)
    assert found is not None and found.approved and found.kind is kind
    assert call(k2) == found  # retrying with the key returns the stored answer


def test_in_process_over_asgi_transport(sandbox: SandboxServer, enroll: Enroll) -> None:
    from sandbox_network_server import API_KEY, REQUESTOR_ID

    local = SandboxProcessor(
        base_url="http://sandbox.local",
        requestor_id=REQUESTOR_ID,
        api_key=API_KEY,
        merchant_id=MERCHANT_ID,
        transport=httpx.ASGITransport(app=sandbox.app),  # type: ignore[arg-type]
    )
    try:
        method = enroll(VISA)  # linked over the real HTTP server, used in-process
        hold = local.authorize(
            payment_method=method,
            amount=Money(100, "USD"),
            merchant_ref=MERCHANT_ID,
            idempotency_key=key(),
        )
        assert hold.approved and hold.authorization_ref
        cap = local.capture(
            authorization_ref=hold.authorization_ref,
            amount=Money(60, "USD"),
            idempotency_key=key(),
        )
        assert cap.captured == Money(60, "USD")
    finally:
        local.close()


def test_link_session_is_idempotent_and_page_is_locked_down(processor: SandboxProcessor) -> None:
    k = key()
    first = processor.begin_link(customer_ref="c", return_url="https://x.test/", idempotency_key=k)
    again = processor.begin_link(customer_ref="c", return_url="https://x.test/", idempotency_key=k)
    assert first == again
    with pytest.raises(ProcessorError):
        processor.begin_link(customer_ref="d", return_url="https://x.test/", idempotency_key=k)
    assert first.redirect_url is not None
    page = httpx.get(first.redirect_url, timeout=5)
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

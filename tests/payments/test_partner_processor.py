"""The partner processor over real HTTP against the sandbox network's partner endpoint
(Litestar under uvicorn on a free port)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar, asgi

from card_network.app import create_sandbox_app
from card_network.cards import Behaviour
from card_network.config import SandboxConfig, TokenRequestor
from card_network.network import SandboxNetwork
from card_network.partner_api import PartnerApiConfig
from payments.errors import (
    IdempotencyConflictError,
    InvalidAmountError,
    LinkNotCompletedError,
    ProcessorError,
    ProcessorUnavailableError,
    UnknownOutcomeError,
)
from payments.money import Money
from payments.partner_protocol import Keyring, PartnerKey
from payments.processor import DeclineCode, OperationKind, PaymentMethod, Processor
from payments.processors.partner_processor import PartnerConfig, PartnerProcessor

OLD_KEY = PartnerKey.generate("partner-2026-10")
NEW_KEY = PartnerKey.generate("partner-2026-11")
ADMIN_KEY = "admin-test-key-0123456789"
VISA = "4242424242424242"


@dataclass
class Sandbox:
    url: str  # where the network app answers (with any mount prefix)
    network: SandboxNetwork

    @property
    def partner_url(self) -> str:
        return f"{self.url}/partner/v1"


@contextmanager
def _serving(app: Any) -> Iterator[str]:
    """An ASGI app under uvicorn on a free port, in a background thread."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serving_partner_sandbox(mount_prefix: str = "") -> Iterator[Sandbox]:
    """The sandbox network with its partner API, served alone or mounted in another app."""
    config = SandboxConfig(
        requestors=(TokenRequestor("facepay", api_key="facepay-network-key-0123456789"),),
        admin_key=ADMIN_KEY,
        timeout_delay_seconds=1.5,
    )
    network = SandboxNetwork(config)
    # The partner verifies with both keys during rotation and signs with the new one.
    partner = PartnerApiConfig(Keyring([OLD_KEY, NEW_KEY], NEW_KEY.key_id), "facepay")
    app: Any = create_sandbox_app(config, network, partner=partner)
    if mount_prefix:
        network_app = app

        @asgi(mount_prefix, is_mount=True, copy_scope=True)
        async def mounted(scope: Any, receive: Any, send: Any) -> None:
            await network_app(scope, receive, send)

        app = Litestar([mounted])
    with _serving(app) as url:
        yield Sandbox(url + mount_prefix, network)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with serving_partner_sandbox() as running:
        yield running


def partner_processor(
    sandbox: Sandbox,
    *,
    keyring: Keyring | None = None,
    timeout: float = 5.0,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
) -> PartnerProcessor:
    config = PartnerConfig(
        base_url=sandbox.partner_url,
        keyring=keyring or Keyring([OLD_KEY, NEW_KEY], OLD_KEY.key_id),
        timeout_seconds=timeout,
    )
    if clock is None:
        return PartnerProcessor(config, transport=transport)
    return PartnerProcessor(config, transport=transport, clock=clock)


def link_partner_card(
    sandbox: Sandbox, processor: PartnerProcessor, pan: str = VISA
) -> PaymentMethod:
    """The customer confirms the card on the partner's own page (never a FacePay handler)."""
    session = processor.begin_link(
        customer_ref="cust-1", return_url="https://facepay.test/linked", idempotency_key="link"
    )
    assert session.redirect_url is not None
    form = {"pan": pan, "exp_month": "12", "exp_year": "2031", "cvc": "123"}
    page = httpx.post(session.redirect_url, data=form)
    assert page.status_code == 303, page.text
    return processor.complete_link(setup_ref=session.setup_ref, idempotency_key="done")


@pytest.fixture(scope="module")
def processor(sandbox: Sandbox) -> Iterator[PartnerProcessor]:
    proc = partner_processor(sandbox)
    yield proc
    proc.close()


_counter = iter(range(1_000_000))


def _key(step: str) -> str:
    return f"purchase-{next(_counter)}:{step}"


def _usd(cents: int) -> Money:
    return Money(cents, "USD")


def _link(sandbox: Sandbox, processor: PartnerProcessor, pan: str = VISA) -> PaymentMethod:
    pending = processor.begin_link(
        customer_ref="cust-0", return_url="https://facepay.test/linked", idempotency_key="l"
    )
    with pytest.raises(LinkNotCompletedError):
        processor.complete_link(setup_ref=pending.setup_ref, idempotency_key="c")
    return link_partner_card(sandbox, processor, pan)


def _hold(processor: PartnerProcessor, method: PaymentMethod, cents: int) -> str:
    outcome = processor.authorize(
        payment_method=method, amount=_usd(cents), merchant_ref="cab-1", idempotency_key=_key("h")
    )
    assert outcome.approved, outcome
    assert outcome.authorization_ref is not None
    return outcome.authorization_ref


def _available(sandbox: Sandbox, pan: str) -> int:
    with sandbox.network.lock:
        return sandbox.network.issuer.account(pan).available("USD")


def test_implements_processor_protocol(processor: PartnerProcessor) -> None:
    assert isinstance(processor, Processor)


def test_link_by_push_provisioning(sandbox: Sandbox, processor: PartnerProcessor) -> None:
    method = _link(sandbox, processor)
    assert (method.processor, method.brand, method.last4) == ("partner", "visa", "4242")
    assert method.token_ref != VISA
    assert method.credential


def test_approve_then_partial_capture_releases_remainder(
    sandbox: Sandbox, processor: PartnerProcessor
) -> None:
    pan = "5555555555554444"
    method = _link(sandbox, processor, pan)
    before = _available(sandbox, pan)
    ref = _hold(processor, method, 2000)
    assert _available(sandbox, pan) == before - 2000
    capture = processor.capture(authorization_ref=ref, amount=_usd(1200), idempotency_key=_key("c"))
    assert capture.approved
    assert capture.captured == _usd(1200)
    assert _available(sandbox, pan) == before - 1200
    again = processor.capture(authorization_ref=ref, amount=_usd(100), idempotency_key=_key("c"))
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
    sandbox: Sandbox, processor: PartnerProcessor, pan: str, code: DeclineCode
) -> None:
    method = _link(sandbox, processor, pan)
    key = _key("h")
    outcome = processor.authorize(
        payment_method=method, amount=_usd(500), merchant_ref="cab-1", idempotency_key=key
    )
    assert not outcome.approved
    assert outcome.decline_code is code
    found = processor.query_operation(kind=OperationKind.AUTHORIZE, idempotency_key=key)
    assert found == outcome


def test_timeout_is_unknown_then_query_finds_the_hold(
    sandbox: Sandbox, processor: PartnerProcessor
) -> None:
    method = _link(sandbox, processor, "4000000000000119")
    impatient = partner_processor(sandbox, timeout=0.5)
    key = _key("h")
    with pytest.raises(UnknownOutcomeError):
        impatient.authorize(
            payment_method=method, amount=_usd(700), merchant_ref="cab-1", idempotency_key=key
        )
    impatient.close()
    found = processor.query_operation(kind=OperationKind.AUTHORIZE, idempotency_key=key)
    assert found is not None
    assert found.approved
    assert found.authorized == _usd(700)
    # The restarted caller retries with the same key: the hold is not placed twice.
    retried = processor.authorize(
        payment_method=method, amount=_usd(700), merchant_ref="cab-1", idempotency_key=key
    )
    assert retried.authorization_ref == found.authorization_ref


def test_hold_then_void_releases_credit(sandbox: Sandbox, processor: PartnerProcessor) -> None:
    method = _link(sandbox, processor)
    before = _available(sandbox, VISA)
    ref = _hold(processor, method, 900)
    void = processor.void(authorization_ref=ref, idempotency_key=_key("v"))
    assert void.approved
    assert _available(sandbox, VISA) == before


def test_increment_and_increment_over_limit(sandbox: Sandbox, processor: PartnerProcessor) -> None:
    method = _link(sandbox, processor, "4000000000003410")  # credit limit 50.00
    ref = _hold(processor, method, 3000)
    raised = processor.increment_authorization(
        authorization_ref=ref, additional=_usd(1500), idempotency_key=_key("i")
    )
    assert raised.approved
    assert raised.authorized == _usd(4500)
    over = processor.increment_authorization(
        authorization_ref=ref, additional=_usd(1000), idempotency_key=_key("i")
    )
    assert over.decline_code is DeclineCode.INSUFFICIENT_FUNDS
    capture = processor.capture(authorization_ref=ref, amount=_usd(4500), idempotency_key=_key("c"))
    assert capture.captured == _usd(4500)


def test_refund_partial_full_and_beyond(sandbox: Sandbox, processor: PartnerProcessor) -> None:
    method = _link(sandbox, processor)
    ref = _hold(processor, method, 3000)
    processor.capture(authorization_ref=ref, amount=_usd(2500), idempotency_key=_key("c"))
    part = processor.refund(authorization_ref=ref, amount=_usd(1000), idempotency_key=_key("r"))
    assert part.refunded == _usd(1000)
    with pytest.raises(ProcessorError, match="refund exceeds"):
        processor.refund(authorization_ref=ref, amount=_usd(1501), idempotency_key=_key("r"))
    rest = processor.refund(authorization_ref=ref, amount=_usd(1500), idempotency_key=_key("r"))
    assert rest.refunded == _usd(2500)
    with pytest.raises(ProcessorError, match="refund exceeds"):
        processor.refund(authorization_ref=ref, amount=_usd(1), idempotency_key=_key("r"))


def test_idempotent_replay_and_conflict(sandbox: Sandbox, processor: PartnerProcessor) -> None:
    method = _link(sandbox, processor)
    ref = _hold(processor, method, 1000)
    key = _key("c")
    first = processor.capture(authorization_ref=ref, amount=_usd(400), idempotency_key=key)
    replay = processor.capture(authorization_ref=ref, amount=_usd(400), idempotency_key=key)
    assert replay == first
    with pytest.raises(IdempotencyConflictError):
        processor.capture(authorization_ref=ref, amount=_usd(500), idempotency_key=key)
    hold_key = _key("h")
    processor.authorize(
        payment_method=method, amount=_usd(100), merchant_ref="cab-1", idempotency_key=hold_key
    )
    with pytest.raises(IdempotencyConflictError):
        processor.authorize(
            payment_method=method, amount=_usd(101), merchant_ref="cab-1", idempotency_key=hold_key
        )


def test_suspended_token_declines(sandbox: Sandbox, processor: PartnerProcessor) -> None:
    method = _link(sandbox, processor)
    response = httpx.post(
        f"{sandbox.url}/tsp/tokens/{method.token_ref}/suspend",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert response.status_code == 200, response.text
    outcome = processor.authorize(
        payment_method=method, amount=_usd(100), merchant_ref="cab-1", idempotency_key=_key("h")
    )
    assert outcome.decline_code is DeclineCode.TOKEN_SUSPENDED


def test_unreachable_partner_is_unavailable() -> None:
    config = PartnerConfig("http://127.0.0.1:9/partner/v1", Keyring([OLD_KEY], OLD_KEY.key_id))
    down = PartnerProcessor(config)
    with pytest.raises(ProcessorUnavailableError) as raised:
        down.void(authorization_ref="auth_x", idempotency_key="k")
    assert not isinstance(raised.value, UnknownOutcomeError)


def test_bad_input_rejected_before_sending(processor: PartnerProcessor) -> None:
    stripe_card = PaymentMethod("stripe", "cus_1/pm_1", "visa", "4242", 12, 2030)
    with pytest.raises(ProcessorError, match="partner-provisioned"):
        processor.authorize(
            payment_method=stripe_card, amount=_usd(100), merchant_ref="c", idempotency_key="k"
        )
    with pytest.raises(InvalidAmountError):
        processor.capture(authorization_ref="auth_x", amount=_usd(-5), idempotency_key="k")


def test_partner_unavailable_applies_nothing(sandbox: Sandbox, processor: PartnerProcessor) -> None:
    method = _link(sandbox, processor)
    ref = _hold(processor, method, 1000)
    sandbox.network.inject_fault(OperationKind.CAPTURE, Behaviour.UNAVAILABLE)
    key = _key("c")
    with pytest.raises(ProcessorUnavailableError) as raised:
        processor.capture(authorization_ref=ref, amount=_usd(500), idempotency_key=key)
    assert not isinstance(raised.value, UnknownOutcomeError)
    assert processor.query_operation(kind=OperationKind.CAPTURE, idempotency_key=key) is None
    retried = processor.capture(authorization_ref=ref, amount=_usd(500), idempotency_key=key)
    assert retried.captured == _usd(500)


def test_keys_with_any_characters_can_be_queried(
    sandbox: Sandbox, processor: PartnerProcessor
) -> None:
    method = _link(sandbox, processor)
    ref = _hold(processor, method, 1000)
    key = "capture:session/42?x=1 & ü"
    processor.capture(authorization_ref=ref, amount=_usd(100), idempotency_key=key)
    found = processor.query_operation(kind=OperationKind.CAPTURE, idempotency_key=key)
    assert found is not None
    assert found.idempotency_key == key

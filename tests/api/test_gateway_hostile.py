"""A hostile or broken cabinet over the real WebSocket gateway (uvicorn, real database,
the sandbox card network with a real hold).

Each bad message gets a clear ErrorReply, the link stays up (the next valid message on
the same socket is answered) and nothing changes: a bad identify opens no purchase, a
bad close captures nothing, moves no stock and issues no receipt.
"""

from __future__ import annotations

import math
import struct
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from cabinet_client import authenticated, signer, until
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text
from websockets.asyncio.client import ClientConnection

from cabinet_runtime import protocol as p
from facepay.bootstrap import Services
from facepay.cabinets.service import (
    LaneSpec,
    create_cabinet,
    create_site,
    issue_provisioning_code,
    set_planogram,
)
from facepay.catalog.models import InventoryLevel
from facepay.catalog.products import ProductSpec, upsert_products
from facepay.checkout.models import PurchaseSession, Receipt, SessionLine
from facepay.checkout.states import PurchaseState
from facepay.customers.models import Customer
from facepay_demo.server import BackgroundServer
from facepay_demo.shop import link_card
from payments.money import Money

APPROVE = "4242424242424242"
COLA_PRICE = 1500
STOCK = {"A1": 8, "A2": 5}
SITE_MAXIMUM = 20_000  # the whole stock (8 colas, 5 bars: 24,500 KRW) is above it
HOLD = 30_000


@dataclass
class Shop:
    services: Services
    cabinet_id: str
    key: Ed25519PrivateKey
    gateway_url: str
    purchase_id: str
    authorization_id: str

    def purchase(self) -> PurchaseSession:
        with self.services.sessions() as session:
            found = session.get(PurchaseSession, self.purchase_id)
            assert found is not None
            session.expunge(found)
            return found

    def stock(self) -> dict[str, int]:
        with self.services.sessions() as session:
            rows = session.scalars(
                select(InventoryLevel).where(InventoryLevel.cabinet_id == self.cabinet_id)
            )
            return {row.lane_id: row.quantity for row in rows}

    def count(self, model: type[Any]) -> int:
        with self.services.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def captured(self) -> int:
        return self.services.payments.authorizations.get(self.authorization_id).captured


def _raw_key(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.fixture
def shop(live_services: Services, live_server: BackgroundServer) -> Shop:
    """A cabinet with colas in A1 and bars in A2, and a customer's door already unlocked
    with a real hold on a real (sandbox) card."""
    services = live_services
    with services.sessions.begin() as session:
        site = create_site(session, "hostile corner", "KRW", max_basket_amount=SITE_MAXIMUM)
        upsert_products(
            session,
            [
                ProductSpec("cola", "Cola", COLA_PRICE, "KRW", 355.0, 8.0),
                ProductSpec("bar", "Bar", 2500, "KRW", 50.0, 3.0),
                ProductSpec("tea", "Tea, in no lane", 1200, "KRW", 500.0, 8.0),
            ],
        )
        cabinet = create_cabinet(session, site.id, "fridge", hold_amount=HOLD)
        set_planogram(
            session,
            cabinet.id,
            [LaneSpec("s1", "A1", "cola", STOCK["A1"]), LaneSpec("s1", "A2", "bar", STOCK["A2"])],
        )
        code = issue_provisioning_code(session, cabinet.id)
        customer = Customer(display_name="shopper")
        session.add(customer)
        session.flush()
        cabinet_id, customer_id = cabinet.id, customer.id
    book = services.checkout.book
    purchase, _ = book.open(cabinet_id, "visit-1", auth_method="face", currency="KRW")
    purchase_id = purchase.id
    book.move(purchase_id, PurchaseState.AUTHORIZING, reason="known", customer_id=customer_id)
    link_card(services, customer_id, APPROVE)
    hold = services.checkout.payments.hold(purchase_id, customer_id, cabinet_id, Money(HOLD, "KRW"))
    assert hold.refusal is None and hold.authorization_id is not None
    book.move(
        purchase_id,
        PurchaseState.UNLOCKED,
        reason="hold placed",
        authorization_ref=hold.authorization_id,
        hold_amount=hold.held,
    )
    key = Ed25519PrivateKey.generate()
    answer = httpx.post(
        f"{live_server.url}{p.PROVISION_PATH}",
        content=msgspec.json.encode(p.ProvisionRequest(code=code, public_key=_raw_key(key))),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    gateway_url = msgspec.json.decode(answer.content, type=p.ProvisionResponse).gateway_url
    return Shop(services, cabinet_id, key, gateway_url, purchase_id, hold.authorization_id)


@pytest.fixture
async def cabinet(shop: Shop) -> AsyncIterator[ClientConnection]:
    """The cabinet's authenticated connection (raw frames, no runtime in between)."""
    sign = signer(shop.key, shop.cabinet_id)
    async with authenticated(shop.gateway_url, shop.cabinet_id, sign, max_size=2**24) as ws:
        yield ws


async def _error_for(ws: ClientConnection, ref_id: str | None) -> p.ErrorReply:
    reply = await until(ws, lambda m: isinstance(m, p.ErrorReply) and m.ref_id == ref_id)
    assert isinstance(reply, p.ErrorReply)
    assert reply.detail, "an error says what was wrong"
    return reply


async def _link_still_up(ws: ClientConnection) -> None:
    report = p.Telemetry(at=1.0, temperature_c=4.0, door="closed", locked=True, state="idle")
    await ws.send(p.encode(report))
    await until(ws, lambda m: isinstance(m, p.Ack) and m.ack_id == report.id)


def _frame(message: dict[str, Any]) -> tuple[str, bytes]:
    message_id = str(uuid.uuid4())
    return message_id, msgspec.json.encode({"id": message_id, "v": p.PROTOCOL_VERSION, **message})


def _close(*lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "session_closed",
        "session_id": "visit-1",
        "lines": [{"confidence": 1.0, **line} for line in lines],
        "review": False,
        "totals": {"items": 1, "weight_delta_g": -355.0},
        **extra,
    }


def _assert_nothing_settled(shop: Shop) -> None:
    assert shop.captured() == 0
    assert shop.stock() == STOCK
    assert shop.count(Receipt) == 0
    assert shop.count(SessionLine) == 0


# --- session_closed --------------------------------------------------------------------------


async def test_a_plausible_basket_is_charged(shop: Shop, cabinet: ClientConnection) -> None:
    """The control: the same setup charges a basket the server can explain."""
    _, frame = _frame(_close({"lane": "A1", "sku": "cola", "qty": 2}))
    await cabinet.send(frame)
    settled = await until(cabinet, lambda m: isinstance(m, p.SessionSettled))
    assert isinstance(settled, p.SessionSettled)
    assert settled.amount_minor == 2 * COLA_PRICE
    assert shop.captured() == 2 * COLA_PRICE
    assert shop.stock() == {**STOCK, "A1": STOCK["A1"] - 2}
    assert shop.purchase().state == "settled"


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ([{"lane": "A1", "sku": "cola", "qty": 50}], "50 x 'cola' from lane 'A1', which holds 8"),
        (
            [{"lane": "A1", "sku": "cola", "qty": 5}, {"lane": "A1", "sku": "cola", "qty": 5}],
            "10 x 'cola' from lane 'A1', which holds 8",
        ),
        ([{"lane": "A1", "sku": "caviar", "qty": 1}], "unknown SKU 'caviar'"),
        ([{"lane": "Z9", "sku": "cola", "qty": 1}], "lane 'Z9' is not in the cabinet's planogram"),
        ([{"lane": "A2", "sku": "cola", "qty": 1}], "lane 'A2' holds 'bar', not 'cola'"),
        ([{"lane": "A1", "sku": "tea", "qty": 1}], "lane 'A1' holds 'cola', not 'tea'"),
        (
            [{"lane": "A1", "sku": "cola", "qty": 8}, {"lane": "A2", "sku": "bar", "qty": 5}],
            "basket of 24500 KRW is above the site's maximum of 20000 KRW",
        ),
    ],
    ids=[
        "above-stock",
        "above-stock-in-two-lines",
        "unknown-sku",
        "unknown-lane",
        "other-lanes-sku",
        "sku-in-no-lane",
        "above-site-maximum",
    ],
)
async def test_an_impossible_basket_goes_to_review_and_is_not_charged(
    shop: Shop, cabinet: ClientConnection, lines: list[dict[str, Any]], problem: str
) -> None:
    message_id, frame = _frame(_close(*lines))
    await cabinet.send(frame)
    reply = await _error_for(cabinet, message_id)
    assert reply.code == "basket_rejected"
    assert problem in reply.detail
    # handled for good: acknowledged, so the cabinet stops resending it
    await until(cabinet, lambda m: isinstance(m, p.Ack) and m.ack_id == message_id)
    await _link_still_up(cabinet)
    purchase = shop.purchase()
    assert purchase.state == PurchaseState.IN_REVIEW
    assert purchase.review_required
    assert purchase.review_reason is not None and problem in purchase.review_reason
    _assert_nothing_settled(shop)
    # a resend gets the same answer and still charges nothing
    await cabinet.send(frame)
    again = await _error_for(cabinet, message_id)
    assert (again.code, again.detail) == (reply.code, reply.detail)
    await _link_still_up(cabinet)
    _assert_nothing_settled(shop)


async def test_a_basket_with_more_problems_than_a_reply_holds_is_still_refused(
    shop: Shop, cabinet: ClientConnection
) -> None:
    """The most lines a close may carry, each wrong twice over: the reason is clipped to
    what the review column and an ErrorReply hold, so the cabinet can read the answer and
    the purchase still goes to review (on PostgreSQL a longer reason would not fit)."""
    lines = [
        {"lane": f"Z{i:02d}".ljust(p.MAX_ID_CHARS, "z"), "sku": "x" * p.MAX_ID_CHARS, "qty": 1}
        for i in range(p.MAX_BASKET_LINES)
    ]
    message_id, frame = _frame(_close(*lines))
    await cabinet.send(frame)
    reply = await _error_for(cabinet, message_id)
    assert reply.code == "basket_rejected"
    assert len(reply.detail) <= p.MAX_TEXT_CHARS and reply.detail.endswith("...")
    assert "is not in the cabinet's planogram" in reply.detail
    await until(cabinet, lambda m: isinstance(m, p.Ack) and m.ack_id == message_id)
    purchase = shop.purchase()
    assert purchase.state == PurchaseState.IN_REVIEW
    assert purchase.review_reason == reply.detail
    _assert_nothing_settled(shop)
    await cabinet.send(frame)
    again = await _error_for(cabinet, message_id)
    assert (again.code, again.detail) == (reply.code, reply.detail)
    await _link_still_up(cabinet)
    _assert_nothing_settled(shop)


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (_close({"lane": "A1", "sku": "cola", "qty": 10**6}), "<= 99"),
        (_close({"lane": "A1", "sku": "cola", "qty": 2**62}), "<= 99"),
        (_close({"lane": "A1", "sku": "cola", "qty": 2**63}), "<= 99"),
        (_close({"lane": "A1", "sku": "cola", "qty": -1}), ">= 1"),
        (_close({"lane": "A1", "sku": "cola", "qty": 0}), ">= 1"),
        (_close({"sku": "cola", "qty": 1}), "missing required field `lane`"),
        (_close({"lane": "A1", "sku": "cola", "qty": 1}, discount=100), "unknown field"),
        (_close({"lane": "A1", "sku": "cola", "qty": 1, "price": 1}), "unknown field `price`"),
    ],
    ids=["qty-1e6", "qty-2^62", "qty-2^63", "qty-negative", "qty-zero", "no-lane",
         "unknown-field", "unknown-line-field"],
)  # fmt: skip
async def test_a_malformed_close_is_refused_and_charges_nothing(
    shop: Shop, cabinet: ClientConnection, message: dict[str, Any], problem: str
) -> None:
    message_id, frame = _frame(message)
    await cabinet.send(frame)
    reply = await _error_for(cabinet, message_id)
    assert reply.code == "bad_message"
    assert problem in reply.detail
    # It still names its session: that goes to review rather than waiting for a close
    # that will never parse, and the message is acknowledged (handled for good).
    await until(cabinet, lambda m: isinstance(m, p.Ack) and m.ack_id == message_id)
    await _link_still_up(cabinet)
    purchase = shop.purchase()
    assert purchase.state == PurchaseState.IN_REVIEW
    assert purchase.review_reason is not None and problem in purchase.review_reason
    _assert_nothing_settled(shop)


async def test_a_handler_that_fails_answers_that_message_and_keeps_the_link(
    shop: Shop, cabinet: ClientConnection
) -> None:
    """A fault inside the server (here: a table gone) is one message's error, not the
    link's; unacknowledged, the message comes again and is then handled."""
    with shop.services.engine.begin() as connection:
        connection.execute(text("ALTER TABLE session_lines RENAME TO session_lines_away"))
    message_id, frame = _frame(_close({"lane": "A1", "sku": "cola", "qty": 1}))
    await cabinet.send(frame)
    reply = await _error_for(cabinet, message_id)
    assert reply.code == "internal_error"
    await _link_still_up(cabinet)
    assert shop.purchase().state == "unlocked"
    with shop.services.engine.begin() as connection:
        connection.execute(text("ALTER TABLE session_lines_away RENAME TO session_lines"))
    _assert_nothing_settled(shop)
    await cabinet.send(frame)  # what the cabinet's outbox does
    await until(cabinet, lambda m: isinstance(m, p.Ack) and m.ack_id == message_id)
    assert shop.captured() == COLA_PRICE
    assert shop.purchase().state == "settled"


# --- identify --------------------------------------------------------------------------------


def _floats(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


UNIT = [p.EMBEDDING_DIM**-0.5] * p.EMBEDDING_DIM


@pytest.mark.parametrize(
    ("embedding", "problem"),
    [
        (_floats([math.nan, *UNIT[1:]]), "not a finite number"),
        (_floats([math.inf, *UNIT[1:]]), "not a finite number"),
        (_floats([0.0] * p.EMBEDDING_DIM), "norm is 0"),
        (_floats([3e38] * p.EMBEDDING_DIM), "norm is 6.78823e+39"),
        (_floats([100.0] * p.EMBEDDING_DIM), "norm is 2262"),
        (_floats(UNIT[:100]), "must be 2048 bytes"),
    ],
    ids=["nan", "inf", "zero", "huge", "not-normalised", "short"],
)
async def test_a_bad_embedding_is_refused_and_opens_no_purchase(
    shop: Shop, cabinet: ClientConnection, embedding: bytes, problem: str
) -> None:
    before = shop.count(PurchaseSession)
    identify = {
        "type": "identify",
        "session_id": "visit-2",
        "embedding": msgspec.json.decode(msgspec.json.encode(embedding)),
        "quality": {"score": 0.9, "passed": True},
        "liveness": {"score": 0.9, "passed": True, "method": "depth"},
        "pack_id": "w600k",
    }
    message_id, frame = _frame(identify)
    await cabinet.send(frame)
    reply = await _error_for(cabinet, message_id)
    assert reply.code == "bad_message"
    assert problem in reply.detail
    await _link_still_up(cabinet)
    assert shop.count(PurchaseSession) == before
    # the session is not poisoned: a good identify for it gets a real answer
    _, good = _frame(
        {**identify, "embedding": msgspec.json.decode(msgspec.json.encode(_floats(UNIT)))}
    )
    await cabinet.send(good)
    answer = await until(
        cabinet, lambda m: isinstance(m, p.IdentifyResult) and m.session_id == "visit-2"
    )
    assert isinstance(answer, p.IdentifyResult)
    assert answer.decision == "deny" and answer.reason != "Please try again."
    assert shop.count(PurchaseSession) == before + 1


async def test_an_identify_with_unknown_fields_opens_no_purchase(
    shop: Shop, cabinet: ClientConnection
) -> None:
    before = shop.count(PurchaseSession)
    message_id, frame = _frame(
        {"type": "identify", "session_id": "visit-3", "qr_token": "FPQ1.x", "skip_checks": True}
    )
    await cabinet.send(frame)
    reply = await _error_for(cabinet, message_id)
    assert (reply.code, "unknown field `skip_checks`" in reply.detail) == ("bad_message", True)
    await _link_still_up(cabinet)
    assert shop.count(PurchaseSession) == before


# --- frames ----------------------------------------------------------------------------------


@pytest.mark.parametrize("as_text", [False, True], ids=["binary", "text"])
async def test_a_10_mb_frame_is_refused_unparsed(
    shop: Shop, cabinet: ClientConnection, as_text: bool
) -> None:
    _, frame = _frame({"type": "error", "code": "x", "detail": "x" * 10_000_000})
    await cabinet.send(frame.decode() if as_text else frame)
    reply = await _error_for(cabinet, None)  # unparsed: its id is never read
    assert reply.code == "bad_message"
    assert f"larger than {p.MAX_FRAME_BYTES}" in reply.detail
    await _link_still_up(cabinet)
    assert shop.purchase().state == "unlocked"
    _assert_nothing_settled(shop)

"""session_closed → priced basket → capture → stock → receipt → session_settled.

Closing and settling are separate. The close (basket lines, state) is durable
before the cabinet's message is acknowledged. Settling charges through
payments (its own transactions, idempotent keys per session and step), then
records stock, receipt and the ``session_settled`` message in one transaction.
If it fails midway (processor down, crash) ``settle_unsettled`` finishes it;
repeating it never charges twice.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cabinet_runtime.protocol import ErrorReply, ServerMessage, SessionClosed, SessionSettled
from facepay.cabinets import link
from facepay.catalog.models import Product
from facepay.checkout.basket import PricedBasket, PricedLine, price_basket, take_from_stock
from facepay.checkout.basket_check import MAX_REASON_CHARS, check_basket
from facepay.checkout.charging import settle_payment
from facepay.checkout.models import PurchaseSession, SessionLine
from facepay.checkout.receipts import issue_receipt
from facepay.customers.models import PhoneLink
from facepay.db.base import utcnow
from facepay.notifications import DEFAULT_PROVIDER
from facepay.platform import Platform
from payments.money import Money

log = logging.getLogger(__name__)

Publish = Callable[[bytes], None]


def close_session(
    platform: Platform, cabinet_id: str, message: SessionClosed, publish: Publish
) -> list[ServerMessage]:
    """Record the close and settle it; the replies for the cabinet (a refused basket)."""
    with platform.sessions.begin() as session:
        purchase = session.scalar(
            select(PurchaseSession)
            .where(
                PurchaseSession.cabinet_id == cabinet_id,
                PurchaseSession.cabinet_session_id == message.session_id,
            )
            .with_for_update()
        )
        if purchase is None:
            log.warning("cabinet %s closed unknown session %s", cabinet_id, message.session_id)
            return []
        # --- basket check (facepay/checkout/basket_check.py): a basket the server's own
        # stock, planogram, catalogue and site limit cannot explain is never charged; the
        # session goes to review with the reason. No lines, stock, capture or receipt.
        if purchase.state == "review" and purchase.close_message_id == message.id:
            return [_basket_rejected(message, purchase.review_reason or "")]  # a resend
        if purchase.state == "unlocked":
            verdict = check_basket(session, cabinet_id, message.lines)
            if not verdict.ok:
                log.warning("session %s basket refused: %s", purchase.id, verdict.reason)
                purchase.state = "review"
                purchase.review_required = True
                purchase.review_reason = verdict.reason
                purchase.close_message_id = message.id
                purchase.closed_at = utcnow()
                return [_basket_rejected(message, verdict.reason)]
        # --- end of the basket check
        if purchase.state != "unlocked":
            return []  # a duplicate close, or a session that never unlocked
        basket = price_basket(session, purchase.currency, message.lines)
        for line in basket.lines:
            session.add(
                SessionLine(
                    session_id=purchase.id,
                    sku=line.sku,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    confidence=line.confidence,
                )
            )
        purchase.state = "closed"
        purchase.close_message_id = message.id
        purchase.closed_at = utcnow()
        # Low-confidence baskets are charged at the recognised amount and reviewed by staff.
        purchase.review_required = message.review or bool(basket.unknown_skus)
        purchase_id = purchase.id
    try:
        settle(platform, purchase_id, publish)
    except Exception:  # the close is safe; settle_unsettled finishes the rest
        log.exception("settling session %s failed; it will be retried", purchase_id)
    return []


def review_malformed_close(
    sessions: sessionmaker[Session], cabinet_id: str, cabinet_session_id: str, problem: str
) -> bool:
    """A session_closed that failed validation still names its session. An unlocked
    session goes to review (never charged) instead of waiting for a close that will
    never parse; True when it did."""
    with sessions.begin() as session:
        purchase = session.scalar(
            select(PurchaseSession)
            .where(
                PurchaseSession.cabinet_id == cabinet_id,
                PurchaseSession.cabinet_session_id == cabinet_session_id,
            )
            .with_for_update()
        )
        if purchase is None or purchase.state != "unlocked":
            return False
        log.warning("session %s closed with a malformed message: %s", purchase.id, problem)
        purchase.state = "review"
        purchase.review_required = True
        purchase.review_reason = f"malformed session_closed: {problem}"[:MAX_REASON_CHARS]
        purchase.closed_at = utcnow()
        return True


def _basket_rejected(message: SessionClosed, reason: str) -> ErrorReply:
    return ErrorReply(code="basket_rejected", detail=reason, ref_id=message.id)


def _basket_of(session: Session, purchase: PurchaseSession) -> PricedBasket:
    lines = session.scalars(
        select(SessionLine).where(SessionLine.session_id == purchase.id).order_by(SessionLine.sku)
    ).all()
    priced = []
    for line in lines:
        product = session.get(Product, line.sku)
        name = product.name if product else line.sku
        priced.append(PricedLine(line.sku, name, line.quantity, line.unit_price, line.confidence))
    return PricedBasket(tuple(priced), purchase.currency, ())


def settle(platform: Platform, purchase_id: str, publish: Publish) -> None:
    with platform.sessions() as session:
        purchase = session.get(PurchaseSession, purchase_id)
        if purchase is None or purchase.state != "closed":
            return
        basket = _basket_of(session, purchase)
        customer_id, authorization_id = purchase.customer_id, purchase.authorization_ref
    assert customer_id is not None and authorization_id is not None  # a closed session was held
    settlement = settle_payment(
        platform, purchase_id, customer_id, authorization_id, Money(basket.total, basket.currency)
    )
    with platform.sessions.begin() as session:
        purchase = session.get(PurchaseSession, purchase_id, with_for_update=True)
        if purchase is None or purchase.state != "closed":
            return  # settled meanwhile by another run
        purchase.captured_amount = settlement.captured
        take_from_stock(session, purchase.cabinet_id, basket)
        receipt = issue_receipt(session, purchase, basket.total)
        purchase.state = "settled"
        purchase.settled_at = utcnow()
        _notify(session, platform, purchase, receipt.id, basket)
        payload = link.enqueue(
            session,
            purchase.cabinet_id,
            SessionSettled(
                session_id=purchase.cabinet_session_id,
                receipt_id=receipt.id,
                amount_minor=basket.total,
                currency=purchase.currency,
            ),
        )
    publish(payload)


def receipt_url(platform: Platform, receipt_id: str) -> str:
    return f"{platform.settings.effective_public_url.rstrip('/')}/r/{receipt_id}"


def _notify(
    session: Session,
    platform: Platform,
    purchase: PurchaseSession,
    receipt_id: str,
    basket: PricedBasket,
) -> None:
    phone = session.scalar(
        select(PhoneLink.phone_e164).where(
            PhoneLink.customer_id == purchase.customer_id, PhoneLink.verified_at.is_not(None)
        )
    )
    if phone is None:
        return
    items = ", ".join(f"{line.name} x{line.quantity}" for line in basket.lines) or "nothing"
    body = (
        f"FacePay receipt: {items}. Total {Money(basket.total, basket.currency)}. "
        f"{receipt_url(platform, receipt_id)}"
    )
    DEFAULT_PROVIDER.send(session, recipient=phone, kind="receipt", body=body)


def settle_unsettled(platform: Platform, publish_to: Callable[[str, bytes], None]) -> int:
    """Finish sessions whose close was recorded but whose settlement did not complete."""
    with platform.sessions() as session:
        pending = session.execute(
            select(PurchaseSession.id, PurchaseSession.cabinet_id).where(
                PurchaseSession.state == "closed"
            )
        ).all()
    for purchase_id, cabinet_id in pending:
        try:
            settle(platform, purchase_id, functools.partial(publish_to, cabinet_id))
        except Exception:
            log.exception("settling session %s failed again", purchase_id)
    return len(pending)

"""session_closed → priced basket → capture → stock → receipt → session_settled.

Closing and settling are separate. The close (basket lines, state) is durable before
the cabinet's message is acknowledged. Settling charges through payments (its own
transactions, idempotent keys per purchase and step), then records stock, receipt and
the ``session_settled`` message in one transaction. If it fails midway (processor
down, crash) ``settle_unsettled`` finishes it; repeating it never charges twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cabinet_runtime.protocol import ErrorReply, ServerMessage, SessionClosed, SessionSettled
from facepay.cabinets import link
from facepay.cabinets.delivery import CabinetLink
from facepay.catalog.models import Product
from facepay.catalog.stock import take_from_stock
from facepay.checkout.basket import PricedBasket, PricedLine, price_basket
from facepay.checkout.basket_check import MAX_REASON_CHARS, check_basket
from facepay.checkout.charging import PurchasePayments
from facepay.checkout.models import PurchaseSession, SessionLine
from facepay.checkout.purchases import PurchaseBook
from facepay.checkout.receipts import issue_receipt
from facepay.checkout.states import PurchaseState
from facepay.customers.models import PhoneLink
from facepay.notifications import NotificationProvider
from payments.money import Money

log = logging.getLogger(__name__)

# A close is recorded for a purchase in these states; any other close is a duplicate.
_CLOSABLE = frozenset({PurchaseState.UNLOCKED, PurchaseState.EXPIRED})


@dataclass(frozen=True)
class PurchaseClosing:
    sessions: sessionmaker[Session]
    book: PurchaseBook
    payments: PurchasePayments
    notifier: NotificationProvider
    link: CabinetLink
    public_url: str

    def close(self, cabinet_id: str, message: SessionClosed) -> list[ServerMessage]:
        with self.sessions.begin() as session:
            purchase = self.book.find(session, cabinet_id, message.session_id)
            if purchase is None:
                log.warning("cabinet %s closed unknown session %s", cabinet_id, message.session_id)
                return [_rejected(message, "unknown session")]
            if (
                purchase.state == PurchaseState.IN_REVIEW
                and purchase.close_message_id == message.id
            ):
                return [_rejected(message, purchase.review_reason or "")]  # a resend: same answer
            # hold_amount is set by the move to unlocked: a purchase that expired before
            # it never opened the door, so a close for it is not believed.
            if purchase.state not in _CLOSABLE or purchase.hold_amount == 0:
                return []  # a duplicate close, or a session that never unlocked
            # The basket is a claim: checked against the server's own catalogue, planogram,
            # stock and site limit first; one that fails is reviewed, never charged.
            verdict = check_basket(session, cabinet_id, message.lines)
            problems = verdict.problems
            # A refused basket records no lines: staff review it from the cabinet's report.
            lines = (
                () if problems else price_basket(session, purchase.currency, message.lines).lines
            )
            session.add_all(
                SessionLine(
                    session_id=purchase.id,
                    sku=line.sku,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    confidence=line.confidence,
                )
                for line in lines
            )
            purchase.close_message_id = message.id
            purchase.closed_at = self.book.clock()
            # Low-confidence baskets are charged at the recognised amount and reviewed by staff.
            purchase.review_required = message.review or bool(problems)
            late = purchase.state == PurchaseState.EXPIRED
            target = PurchaseState.IN_REVIEW if problems else PurchaseState.CLOSED
            # verdict.reason is clipped to what the review column and an ErrorReply hold
            reason = verdict.reason or ("closed after expiry" if late else "door closed")
            self.book.move_in(
                session, purchase, target, reason=reason, review_reason=verdict.reason or None
            )
            purchase_id = purchase.id
        self.book.after_move(purchase_id, target)
        if problems:
            return [_rejected(message, reason)]
        try:
            self.settle(purchase_id)
        except Exception:  # the close is safe; settle_unsettled finishes the rest
            log.exception("settling purchase %s failed; it will be retried", purchase_id)
        return []

    def review_malformed(self, cabinet_id: str, cabinet_session_id: str, problem: str) -> bool:
        """A session_closed that failed validation still names its session: an unlocked
        purchase goes to review (never charged) instead of waiting for a close that will
        never parse. True when it did."""
        with self.sessions() as session:
            purchase = self.book.find(session, cabinet_id, cabinet_session_id)
            if purchase is None or purchase.state != PurchaseState.UNLOCKED:
                return False
            purchase_id = purchase.id
        reason = f"malformed session_closed: {problem}"[:MAX_REASON_CHARS]
        moved = self.book.move(
            purchase_id,
            PurchaseState.IN_REVIEW,
            reason=reason[:200],
            expect=frozenset({PurchaseState.UNLOCKED}),
            review_required=True,
            review_reason=reason,
            closed_at=self.book.clock(),
        )
        return moved is not None

    def settle(self, purchase_id: str) -> None:
        with self.sessions() as session:
            purchase = session.get(PurchaseSession, purchase_id)
            if purchase is None or purchase.state != PurchaseState.CLOSED:
                return
            basket = _basket_of(session, purchase)
            customer_id, authorization_id = purchase.customer_id, purchase.authorization_ref
            released = purchase.hold_released_at is not None
        assert customer_id is not None and authorization_id is not None  # it was unlocked
        settlement = self.payments.settle(
            purchase_id,
            customer_id,
            authorization_id,
            Money(basket.total, basket.currency),
            hold_released=released,
        )
        with self.sessions.begin() as session:
            purchase = session.get(PurchaseSession, purchase_id, with_for_update=True)
            if purchase is None or purchase.state != PurchaseState.CLOSED:
                return  # settled meanwhile by another run
            take_from_stock(
                session, purchase.cabinet_id, ((line.sku, line.quantity) for line in basket.lines)
            )
            receipt = issue_receipt(session, purchase, basket.total)
            self.book.move_in(
                session,
                purchase,
                PurchaseState.SETTLED,
                reason=f"captured {settlement.captured}, debt {settlement.debt}",
                captured_amount=settlement.captured,
                debt_amount=settlement.debt,
                settled_at=self.book.clock(),
            )
            self._notify(session, purchase, receipt.id, basket)
            cabinet_id = purchase.cabinet_id
            payload = link.enqueue(
                session,
                cabinet_id,
                SessionSettled(
                    session_id=purchase.cabinet_session_id,
                    receipt_id=receipt.id,
                    amount_minor=basket.total,
                    currency=purchase.currency,
                ),
            )
        self.book.after_move(purchase_id, PurchaseState.SETTLED)
        self.link.send(cabinet_id, payload)

    def settle_unsettled(self) -> int:
        """Finish purchases whose close was recorded but whose settlement did not complete."""
        with self.sessions() as session:
            pending = list(
                session.scalars(
                    select(PurchaseSession.id).where(PurchaseSession.state == PurchaseState.CLOSED)
                )
            )
        for purchase_id in pending:
            try:
                self.settle(purchase_id)
            except Exception:
                log.exception("settling purchase %s failed again", purchase_id)
        return len(pending)

    def receipt_url(self, receipt_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/r/{receipt_id}"

    def _notify(
        self, session: Session, purchase: PurchaseSession, receipt_id: str, basket: PricedBasket
    ) -> None:
        phone = verified_phone(session, purchase.customer_id)
        if phone is None:
            return
        items = ", ".join(f"{line.name} x{line.quantity}" for line in basket.lines) or "nothing"
        body = (
            f"FacePay receipt: {items}. Total {Money(basket.total, basket.currency)}. "
            f"{self.receipt_url(receipt_id)}"
        )
        self.notifier.send(session, recipient=phone, kind="receipt", body=body)


def verified_phone(session: Session, customer_id: str | None) -> str | None:
    if customer_id is None:
        return None
    return session.scalar(
        select(PhoneLink.phone_e164).where(
            PhoneLink.customer_id == customer_id, PhoneLink.verified_at.is_not(None)
        )
    )


def _rejected(message: SessionClosed, reason: str) -> ErrorReply:
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
    return PricedBasket(tuple(priced), purchase.currency)

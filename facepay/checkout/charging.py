"""The money side of a visit: a hold before the door unlocks, the charge after it closes.

Every call to payments carries an idempotency key derived from the purchase and the
step, so a retry after a crash or a duplicate message never charges twice. Payments
runs its own transactions: these methods are called outside the server's open ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from payments.authorizations.models import AuthStatus
from payments.authorizations.service import AuthorizationService
from payments.errors import OpenDebtError, ProcessorUnavailableError
from payments.money import Money
from payments.processor import PaymentMethod
from payments.unpaid import record_unpaid_goods

NO_CARD = "No card linked. Add one in the FacePay app."
OPEN_DEBT = "Please settle your open balance in the FacePay app."
CARD_SUSPENDED = "Your card is suspended. Use another card in the FacePay app."
CARD_DECLINED = "Card declined. Check your card in the FacePay app."
UNAVAILABLE = "Payments are unavailable right now. Please try again."


class DefaultCards(Protocol):
    """Which card a customer pays with (the customers' card linking answers)."""

    def default_payment_method(self, customer_id: str) -> tuple[str, PaymentMethod] | None: ...


@dataclass(frozen=True)
class HoldResult:
    authorization_id: str | None
    held: int
    refusal: str | None  # shown on the cabinet display when the visit is refused


@dataclass(frozen=True)
class Settlement:
    captured: int
    debt: int


@dataclass(frozen=True)
class PurchasePayments:
    authorizations: AuthorizationService
    payments_engine: Engine  # unpaid goods are recorded in payments' own tables
    cards: DefaultCards

    def _card(self, customer_id: str) -> str | None:
        found = self.cards.default_payment_method(customer_id)
        return found[0] if found is not None else None

    def hold(
        self, purchase_id: str, customer_id: str, cabinet_id: str, amount: Money
    ) -> HoldResult:
        method = self._card(customer_id)
        if method is None:
            return HoldResult(None, 0, NO_CARD)
        try:
            result = self.authorizations.hold(
                payment_method_id=method,
                amount=amount,
                merchant_ref=cabinet_id,
                idempotency_key=f"purchase:{purchase_id}:hold",
                reference=purchase_id,
            )
        except OpenDebtError:
            return HoldResult(None, 0, OPEN_DEBT)
        except ProcessorUnavailableError:
            return HoldResult(None, 0, UNAVAILABLE)
        if not result.approved:
            declined = CARD_SUSPENDED if result.decline_code == "token_suspended" else CARD_DECLINED
            return HoldResult(result.authorization.id, 0, declined)
        return HoldResult(result.authorization.id, result.authorization.held, None)

    def release(self, purchase_id: str, authorization_id: str) -> None:
        """Void the hold of a purchase that ends without goods (idempotent)."""
        if self.authorizations.get(authorization_id).status == AuthStatus.HELD:
            self.authorizations.void(
                authorization_id=authorization_id, idempotency_key=f"purchase:{purchase_id}:void"
            )

    def settle(
        self,
        purchase_id: str,
        customer_id: str,
        authorization_id: str,
        total: Money,
        *,
        hold_released: bool,
    ) -> Settlement:
        """Void when nothing was taken; capture up to the hold; above it, raise the hold
        (incremental authorization) or, where that is declined, charge the rest
        separately. Without a hold (it expired before a late close) everything is a
        separate charge. Whatever cannot be charged becomes the customer's debt."""
        if total.amount == 0:
            self.release(purchase_id, authorization_id)
            return Settlement(0, 0)
        if hold_released:
            return self._second_charge(purchase_id, customer_id, authorization_id, total)
        service = self.authorizations
        key = f"purchase:{purchase_id}"
        held = service.get(authorization_id).held
        extra = Money(total.amount - held, total.currency)
        if extra.amount > 0:
            raised = service.increment(
                authorization_id=authorization_id,
                additional=extra,
                idempotency_key=f"{key}:increment",
            )
            if raised.approved:
                held = raised.authorization.held
        first = Money(min(total.amount, held), total.currency)
        captured = service.capture(
            authorization_id=authorization_id, amount=first, idempotency_key=f"{key}:capture"
        )
        charged = captured.authorization.captured if captured.approved else 0
        debt = 0 if captured.approved else first.amount
        rest = Money(total.amount - first.amount, total.currency)
        if rest.amount > 0:
            second = self._second_charge(purchase_id, customer_id, authorization_id, rest)
            charged += second.captured
            debt += second.debt
        return Settlement(charged, debt)

    def _second_charge(
        self, purchase_id: str, customer_id: str, first_authorization: str, amount: Money
    ) -> Settlement:
        """Charge ``amount`` on a hold of its own; what is declined becomes debt."""
        service = self.authorizations
        key = f"purchase:{purchase_id}:second"
        method = self._card(customer_id)
        if method is None:
            return self._unpaid(first_authorization, amount, "basket above hold, no card left")
        try:
            held = service.hold(
                payment_method_id=method,
                amount=amount,
                merchant_ref=purchase_id,
                idempotency_key=f"{key}:hold",
                reference=purchase_id,
            )
        except OpenDebtError:  # the first capture was declined: the rest is debt as well
            return self._unpaid(first_authorization, amount, "basket above hold, card declined")
        if not held.approved:
            return self._unpaid(held.authorization.id, amount, "second charge declined")
        done = service.capture(
            authorization_id=held.authorization.id, amount=amount, idempotency_key=f"{key}:capture"
        )
        # A declined capture of goods already taken is recorded as debt by payments.
        return Settlement(amount.amount, 0) if done.approved else Settlement(0, amount.amount)

    def _unpaid(self, authorization_id: str, amount: Money, reason: str) -> Settlement:
        record_unpaid_goods(self.payments_engine, authorization_id, amount, reason)
        return Settlement(0, amount.amount)

"""The money side of a visit: a hold before the door unlocks, the charge after it closes.

Every call to payments carries an idempotency key derived from the purchase
session and the step, so a retry after a crash or a duplicate message never
charges twice. Payments runs its own transactions: these functions are called
outside the server's open transactions.
"""

from __future__ import annotations

from dataclasses import dataclass

from facepay.customers.payment_methods import default_payment_method
from facepay.platform import Platform
from payments.errors import OpenDebtError, ProcessorUnavailableError
from payments.money import Money
from payments.unpaid import record_unpaid_goods

NO_CARD = "No card linked. Add one in the FacePay app."
OPEN_DEBT = "Please settle your open balance in the FacePay app."
CARD_SUSPENDED = "Your card is suspended. Use another card in the FacePay app."
CARD_DECLINED = "Card declined. Check your card in the FacePay app."
UNAVAILABLE = "Payments are unavailable right now. Please try again."


@dataclass(frozen=True)
class HoldResult:
    authorization_id: str | None
    held: int
    refusal: str | None  # shown on the cabinet display when the visit is refused


def default_payment_method_id(platform: Platform, customer_id: str) -> str | None:
    """The card the customer chose as default (the first one linked, unless changed)."""
    found = default_payment_method(platform, customer_id)
    return found[0] if found is not None else None


def place_hold(
    platform: Platform, purchase_id: str, customer_id: str, cabinet_id: str, amount: Money
) -> HoldResult:
    method = default_payment_method_id(platform, customer_id)
    if method is None:
        return HoldResult(None, 0, NO_CARD)
    try:
        result = platform.payments.authorizations.hold(
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
        refusal = CARD_SUSPENDED if result.decline_code == "token_suspended" else CARD_DECLINED
        return HoldResult(result.authorization.id, 0, refusal)
    return HoldResult(result.authorization.id, result.authorization.held, None)


@dataclass(frozen=True)
class Settlement:
    captured: int
    debt: int


def settle_payment(
    platform: Platform, purchase_id: str, customer_id: str, authorization_id: str, total: Money
) -> Settlement:
    """Void when nothing was taken; capture up to the hold; above it, raise the hold
    (incremental authorization) or, where that is declined, charge the rest
    separately. Whatever cannot be charged becomes the customer's debt."""
    service = platform.payments.authorizations
    key = f"purchase:{purchase_id}"
    if total.amount == 0:
        service.void(authorization_id=authorization_id, idempotency_key=f"{key}:void")
        return Settlement(0, 0)
    held = service.get(authorization_id).held
    extra = Money(total.amount - held, total.currency)
    if extra.amount > 0:
        raised = service.increment(
            authorization_id=authorization_id, additional=extra, idempotency_key=f"{key}:increment"
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
        second, unpaid = _second_charge(platform, purchase_id, customer_id, authorization_id, rest)
        charged += second
        debt += unpaid
    return Settlement(charged, debt)


def _second_charge(
    platform: Platform, purchase_id: str, customer_id: str, first_authorization: str, amount: Money
) -> tuple[int, int]:
    """Charge ``amount`` on a hold of its own; what is declined becomes debt."""
    service = platform.payments.authorizations
    key = f"purchase:{purchase_id}:second"
    method = default_payment_method_id(platform, customer_id)
    if method is None:
        return 0, _unpaid(platform, first_authorization, amount, "basket above hold, no card left")
    try:
        held = service.hold(
            payment_method_id=method,
            amount=amount,
            merchant_ref=purchase_id,
            idempotency_key=f"{key}:hold",
            reference=purchase_id,
        )
    except OpenDebtError:  # the first capture was declined: the rest is debt as well
        return 0, _unpaid(platform, first_authorization, amount, "basket above hold, card declined")
    if not held.approved:
        return 0, _unpaid(platform, held.authorization.id, amount, "second charge declined")
    done = service.capture(
        authorization_id=held.authorization.id, amount=amount, idempotency_key=f"{key}:capture"
    )
    # A declined capture of goods already taken is recorded as debt by payments.
    return (amount.amount, 0) if done.approved else (0, amount.amount)


def _unpaid(platform: Platform, authorization_id: str, amount: Money, reason: str) -> int:
    record_unpaid_goods(platform.payments.engine, authorization_id, amount, reason)
    return amount.amount

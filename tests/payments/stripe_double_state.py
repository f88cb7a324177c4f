"""Object state of the Stripe *test double* (see stripe_double.py). Not Stripe.

Implements the subset of Stripe's documented behaviour FacePay relies on:
Customers, SetupIntents, PaymentMethods created from test card tokens,
PaymentIntents with their status machine (requires_payment_method →
requires_confirmation → requires_capture → succeeded / canceled), incremental
authorization, partial capture, refunds up to amount_received and search by
metadata. Errors are raised as DoubleError and rendered as Stripe-shaped JSON.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


class DoubleError(Exception):
    def __init__(self, status: int, type_: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSON = {"error": {"type": type_, "message": message, **extra}}


def invalid(message: str, param: str | None = None, code: str = "parameter_invalid") -> DoubleError:
    return DoubleError(400, "invalid_request_error", message, param=param, code=code)


@dataclass(frozen=True)
class TestCard:
    brand: str
    last4: str
    decline_code: str | None = None
    error_code: str = "card_declined"
    incremental: bool = True
    # Largest single authorization the issuer approves (None: unlimited).
    limit: int | None = None
    # The double answers only after this many seconds: a network timeout.
    response_delay: float = 0.0


# Names follow Stripe's test tokens where Stripe has one; the rest are the double's own.
TEST_CARDS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("visa", "4242"),
    "pm_card_mastercard": TestCard("mastercard", "4444"),
    "pm_card_amex": TestCard("amex", "8431", incremental=False),
    "pm_card_visa_limit5000": TestCard("visa", "5000", limit=5000),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard("visa", "9995", "insufficient_funds"),
    "pm_card_chargeDeclinedDoNotHonor": TestCard("visa", "0036", "do_not_honor"),
    "pm_card_chargeDeclinedExpiredCard": TestCard(
        "visa", "0069", "expired_card", error_code="expired_card"
    ),
    "pm_card_chargeDeclinedLostCard": TestCard("visa", "9987", "lost_card"),
    "pm_card_chargeDeclinedStolenCard": TestCard("visa", "9979", "stolen_card"),
    "pm_card_slowNetwork": TestCard("visa", "1117", response_delay=2.0),
}

_CANCELABLE = {"requires_payment_method", "requires_confirmation", "requires_capture"}
_SEARCH_CLAUSE = re.compile(r"^metadata\['([^']+)'\]:'([^']*)'$")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def as_int(params: JSON, name: str, *, required: bool = False, minimum: int = 1) -> int | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise invalid(f"Missing required param: {name}.", name, "parameter_missing")
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"-?\d+", raw):
        raise invalid(f"Invalid integer: {raw}", name)
    value = int(raw)
    if value < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", name)
    return value


def as_bool(params: JSON, name: str) -> bool:
    raw = params.get(name, "false")
    if raw not in ("true", "false"):
        raise invalid(f"Invalid boolean: {raw}", name)
    return bool(raw == "true")


def as_metadata(params: JSON) -> dict[str, str]:
    meta = params.get("metadata", {})
    if not isinstance(meta, dict):
        raise invalid("Invalid object", "metadata")
    return {str(k): str(v) for k, v in meta.items()}


@dataclass
class StripeState:
    customers: dict[str, JSON] = field(default_factory=dict)
    payment_methods: dict[str, JSON] = field(default_factory=dict)
    cards: dict[str, TestCard] = field(default_factory=dict)
    setup_intents: dict[str, JSON] = field(default_factory=dict)
    intents: dict[str, JSON] = field(default_factory=dict)
    charges: dict[str, JSON] = field(default_factory=dict)
    refunds: dict[str, JSON] = field(default_factory=dict)

    # -- lookups ---------------------------------------------------------------
    def _get(self, table: dict[str, JSON], kind: str, object_id: str) -> JSON:
        try:
            return table[object_id]
        except KeyError:
            raise DoubleError(
                404,
                "invalid_request_error",
                f"No such {kind}: '{object_id}'",
                code="resource_missing",
                param="id",
            ) from None

    def customer(self, cid: str) -> JSON:
        return self._get(self.customers, "customer", cid)

    def payment_method(self, pm: str) -> JSON:
        return self._get(self.payment_methods, "payment_method", pm)

    def intent(self, pid: str) -> JSON:
        return self._get(self.intents, "payment_intent", pid)

    def setup_intent(self, sid: str) -> JSON:
        return self._get(self.setup_intents, "setup_intent", sid)

    def charge(self, cid: str) -> JSON:
        return self._get(self.charges, "charge", cid)

    # -- customers and payment methods ------------------------------------------
    def create_customer(self, params: JSON) -> JSON:
        cid = new_id("cus")
        self.customers[cid] = {
            "id": cid,
            "object": "customer",
            "email": params.get("email"),
            "metadata": as_metadata(params),
            "created": int(time.time()),
            "livemode": False,
        }
        return self.customers[cid]

    def _materialize_payment_method(self, token: str, customer: str | None) -> JSON:
        """A test token (pm_card_visa) becomes a new PaymentMethod, as on Stripe."""
        if token in self.payment_methods:
            return self.payment_methods[token]
        card = TEST_CARDS.get(token)
        if card is None:
            raise DoubleError(
                400,
                "invalid_request_error",
                f"No such PaymentMethod: '{token}'",
                code="resource_missing",
                param="payment_method",
            )
        pm_id = new_id("pm")
        self.cards[pm_id] = card
        self.payment_methods[pm_id] = {
            "id": pm_id,
            "object": "payment_method",
            "type": "card",
            "customer": customer,
            "card": {"brand": card.brand, "last4": card.last4, "exp_month": 12, "exp_year": 2034},
            "created": int(time.time()),
            "livemode": False,
        }
        return self.payment_methods[pm_id]

    def card_for(self, pm_id: str) -> TestCard:
        return self.cards[pm_id]

    # -- setup intents -------------------------------------------------------------
    def create_setup_intent(self, params: JSON) -> JSON:
        customer = params.get("customer")
        if customer is not None:
            self.customer(customer)
        sid = new_id("seti")
        self.setup_intents[sid] = {
            "id": sid,
            "object": "setup_intent",
            "customer": customer,
            "usage": params.get("usage", "off_session"),
            "status": "requires_payment_method",
            "payment_method": None,
            "client_secret": f"{sid}_secret_{secrets.token_hex(8)}",
            "metadata": as_metadata(params),
            "created": int(time.time()),
            "livemode": False,
        }
        if params.get("payment_method") or as_bool(params, "confirm"):
            return self.confirm_setup_intent(sid, params)
        return self.setup_intents[sid]

    def confirm_setup_intent(self, sid: str, params: JSON) -> JSON:
        seti = self.setup_intent(sid)
        if seti["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise invalid(
                f"This SetupIntent's status is {seti['status']}; it cannot be confirmed.",
                code="setup_intent_unexpected_state",
            )
        token = params.get("payment_method") or seti["payment_method"]
        if not token:
            raise invalid("You must provide a payment_method.", "payment_method")
        pm = self._materialize_payment_method(token, seti["customer"])
        seti.update(payment_method=pm["id"], status="succeeded")
        return seti

    # -- payment intents -----------------------------------------------------------
    def create_intent(self, params: JSON) -> JSON:
        amount = as_int(params, "amount", required=True)
        currency = params.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[a-z]{3}", currency):
            raise invalid("Invalid currency", "currency")
        capture_method = params.get("capture_method", "automatic")
        if capture_method not in ("automatic", "manual"):
            raise invalid(f"Invalid capture_method: {capture_method}", "capture_method")
        customer = params.get("customer")
        if customer is not None:
            self.customer(customer)
        pm_id = params.get("payment_method")
        if pm_id is not None:
            pm_id = self._materialize_payment_method(pm_id, customer)["id"]
        pid = new_id("pi")
        card_options = params.get("payment_method_options", {}).get("card", {})
        self.intents[pid] = {
            "id": pid,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "currency": currency,
            "capture_method": capture_method,
            "customer": customer,
            "payment_method": pm_id,
            "payment_method_options": {"card": dict(card_options)},
            "status": "requires_confirmation" if pm_id else "requires_payment_method",
            "metadata": as_metadata(params),
            "description": params.get("description"),
            "latest_charge": None,
            "last_payment_error": None,
            "cancellation_reason": None,
            "canceled_at": None,
            "client_secret": f"{pid}_secret_{secrets.token_hex(8)}",
            "created": int(time.time()),
            "livemode": False,
        }
        if as_bool(params, "confirm"):
            return self.confirm_intent(pid, {})
        return self.intents[pid]

    def confirm_intent(self, pid: str, params: JSON) -> JSON:
        pi = self.intent(pid)
        if params.get("payment_method"):
            pi["payment_method"] = self._materialize_payment_method(
                params["payment_method"], pi["customer"]
            )["id"]
            pi["status"] = "requires_confirmation"
        if pi["status"] != "requires_confirmation":
            raise invalid(
                f"This PaymentIntent's status is {pi['status']}; it cannot be confirmed.",
                code="payment_intent_unexpected_state",
            )
        card = self.card_for(pi["payment_method"])
        self._authorize(pi, card, pi["amount"])
        charge_id = new_id("ch")
        wants_increment = pi["payment_method_options"]["card"].get(
            "request_incremental_authorization"
        ) in ("if_available", "required")
        incremental = "available" if wants_increment and card.incremental else "unavailable"
        manual = pi["capture_method"] == "manual"
        self.charges[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": 0 if manual else pi["amount"],
            "amount_refunded": 0,
            "captured": not manual,
            "currency": pi["currency"],
            "payment_intent": pid,
            "payment_method": pi["payment_method"],
            "payment_method_details": {
                "type": "card",
                "card": {
                    "brand": card.brand,
                    "last4": card.last4,
                    "incremental_authorization": {"status": incremental},
                },
            },
            "status": "succeeded",
        }
        pi["latest_charge"] = charge_id
        pi["last_payment_error"] = None
        if manual:
            pi.update(status="requires_capture", amount_capturable=pi["amount"])
        else:
            pi.update(status="succeeded", amount_received=pi["amount"])
        return pi

    def _authorize(self, pi: JSON, card: TestCard, amount: int) -> None:
        decline = card.decline_code
        if decline is None and card.limit is not None and amount > card.limit:
            decline = "insufficient_funds"
        if decline is None:
            return
        code = card.error_code if card.decline_code else "card_declined"
        error = {
            "type": "card_error",
            "code": code,
            "decline_code": decline,
            "message": f"Your card was declined ({decline}).",
            "payment_method": {"id": pi["payment_method"]},
        }
        if pi["status"] != "requires_capture":
            pi.update(status="requires_payment_method", last_payment_error=error)
        raise DoubleError(
            402,
            "card_error",
            error["message"],
            code=code,
            decline_code=decline,
            payment_intent=pi,
        )

    def increment_authorization(self, pid: str, params: JSON) -> JSON:
        pi = self.intent(pid)
        amount = as_int(params, "amount", required=True)
        assert amount is not None
        if pi["status"] != "requires_capture":
            raise invalid(
                f"This PaymentIntent's status is {pi['status']}; "
                "only requires_capture intents can be incremented.",
                code="payment_intent_unexpected_state",
            )
        charge = self.charge(pi["latest_charge"])
        card_details = charge["payment_method_details"]["card"]
        if card_details["incremental_authorization"]["status"] != "available":
            raise invalid(
                "Incremental authorization is not available for this PaymentIntent.",
                code="incremental_authorization_unavailable",
            )
        if amount <= pi["amount"]:
            raise invalid("The new amount must be greater than the current amount.", "amount")
        self._authorize(pi, self.card_for(pi["payment_method"]), amount)
        pi.update(amount=amount, amount_capturable=amount)
        pi["metadata"].update(as_metadata(params))
        charge["amount"] = amount
        return pi

    def capture_intent(self, pid: str, params: JSON) -> JSON:
        pi = self.intent(pid)
        if pi["status"] != "requires_capture":
            raise invalid(
                f"This PaymentIntent could not be captured because it has a status of "
                f"{pi['status']}. Only a PaymentIntent with one of the following statuses may "
                "be captured: requires_capture.",
                code="payment_intent_unexpected_state",
            )
        amount = as_int(params, "amount_to_capture", minimum=0)
        if amount is None:
            amount = pi["amount_capturable"]
        if amount > pi["amount_capturable"]:
            raise invalid(
                "The amount_to_capture must be less than or equal to the amount_capturable.",
                "amount_to_capture",
                "amount_too_large",
            )
        # Capturing less than authorized releases the rest of the hold.
        pi.update(status="succeeded", amount_received=amount, amount_capturable=0)
        charge = self.charge(pi["latest_charge"])
        charge.update(amount_captured=amount, captured=True)
        return pi

    def cancel_intent(self, pid: str, params: JSON) -> JSON:
        pi = self.intent(pid)
        if pi["status"] not in _CANCELABLE:
            raise invalid(
                f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}.",
                code="payment_intent_unexpected_state",
            )
        pi.update(
            status="canceled",
            amount_capturable=0,
            cancellation_reason=params.get("cancellation_reason"),
            canceled_at=int(time.time()),
        )
        return pi

    def search_intents(self, query: str) -> list[JSON]:
        clauses = [c.strip() for c in query.split(" AND ")]
        wanted: dict[str, str] = {}
        for clause in clauses:
            match = _SEARCH_CLAUSE.fullmatch(clause)
            if match is None:
                raise invalid(f"The double only supports metadata['k']:'v' queries: {clause}")
            wanted[match.group(1)] = match.group(2)
        return [
            pi
            for pi in self.intents.values()
            if all(pi["metadata"].get(k) == v for k, v in wanted.items())
        ]

    # -- refunds -----------------------------------------------------------------
    def create_refund(self, params: JSON) -> JSON:
        pid = params.get("payment_intent")
        if not pid:
            raise invalid("Missing required param: payment_intent.", "payment_intent")
        pi = self.intent(pid)
        if pi["status"] != "succeeded":
            raise invalid(
                f"This PaymentIntent has a status of {pi['status']} and cannot be refunded.",
                code="payment_intent_unexpected_state",
            )
        charge = self.charge(pi["latest_charge"])
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        if remaining == 0:
            raise invalid(
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = as_int(params, "amount")
        if amount is None:
            amount = remaining
        if amount > remaining:
            raise invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
                "amount",
                "amount_too_large",
            )
        charge["amount_refunded"] += amount
        rid = new_id("re")
        self.refunds[rid] = {
            "id": rid,
            "object": "refund",
            "amount": amount,
            "currency": pi["currency"],
            "charge": charge["id"],
            "payment_intent": pid,
            "status": "succeeded",
            "metadata": as_metadata(params),
            "created": int(time.time()),
        }
        return self.refunds[rid]

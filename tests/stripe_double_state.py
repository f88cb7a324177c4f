"""Object state of the Stripe *test double* (see stripe_double.py). Not Stripe.

Implements the subset of Stripe's documented behaviour FacePay relies on:
Customers, SetupIntents, PaymentMethods created from test card tokens,
PaymentIntents with their status machine (requires_payment_method →
requires_confirmation → requires_capture → succeeded / canceled), incremental
authorization, partial capture, refunds up to amount_received and search by
metadata. Errors are raised as DoubleError and rendered as Stripe-shaped JSON.
"""

from __future__ import annotations

import copy
import re
import secrets
import time
from dataclasses import dataclass, field

from stripe_double_params import (
    JSON,
    TEST_CARDS,
    DoubleError,
    TestCard,
    as_bool,
    as_int,
    as_metadata,
    invalid,
    new_id,
)

_CANCELABLE = {"requires_payment_method", "requires_confirmation", "requires_capture"}


@dataclass
class StripeState:
    customers: dict[str, JSON] = field(default_factory=dict)
    payment_methods: dict[str, JSON] = field(default_factory=dict)
    cards: dict[str, TestCard] = field(default_factory=dict)
    setup_intents: dict[str, JSON] = field(default_factory=dict)
    intents: dict[str, JSON] = field(default_factory=dict)
    charges: dict[str, JSON] = field(default_factory=dict)
    refunds: dict[str, JSON] = field(default_factory=dict)
    # Stripe's search is eventually consistent ("usually under a minute"); the double
    # can hide intents younger than this from search (listing stays consistent).
    search_lag_seconds: float = 0.0
    # Every event Stripe would send to a webhook endpoint, oldest first.
    events: list[JSON] = field(default_factory=list)
    # When each intent was made (monotonic seconds), for the search lag.
    born: dict[str, float] = field(default_factory=dict)

    def _emit(self, event_type: str, obj: JSON) -> None:
        self.events.append(
            {
                "id": new_id("evt"),
                "object": "event",
                "type": event_type,
                "created": int(time.time()),
                "livemode": False,
                "data": {"object": copy.deepcopy(obj)},
            }
        )

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
        self._emit("setup_intent.succeeded", seti)
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
        self.born[pid] = time.monotonic()
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

    def update_intent(self, pid: str, params: JSON) -> JSON:
        """Only metadata (merged; an empty value deletes the key) and description."""
        pi = self.intent(pid)
        unknown = set(params) - {"metadata", "description", "expand"}
        if unknown:
            raise invalid(f"The double cannot update {sorted(unknown)}", sorted(unknown)[0])
        for key, value in as_metadata(params).items():
            if value:
                pi["metadata"][key] = value
            else:
                pi["metadata"].pop(key, None)
        if "description" in params:
            pi["description"] = params["description"]
        return pi

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
            self._emit("payment_intent.amount_capturable_updated", pi)
        else:
            pi.update(status="succeeded", amount_received=pi["amount"])
            self._emit("payment_intent.succeeded", pi)
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
            self._emit("payment_intent.payment_failed", pi)
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
        self._emit("payment_intent.succeeded", pi)
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
        self._emit("payment_intent.canceled", pi)
        return pi

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
        self._emit("charge.refunded", charge)
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

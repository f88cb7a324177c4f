"""The Stripe processor, built on the official ``stripe`` SDK (StripeClient, API v1).

Cards are linked through a SetupIntent for off-session use; a hold is a
PaymentIntent with ``capture_method=manual`` created and confirmed off-session in
one call; the basket is captured with ``amount_to_capture`` (the rest of the hold
is released); a hold is voided by cancelling the intent. Increments use
Stripe's incremental authorization when the charge reports it available, and
otherwise decline with INCREMENT_NOT_SUPPORTED so the caller places a second
hold (a second charge).

Every Stripe request carries an Idempotency-Key derived from our own key and
the step, so a retry after a restart replays instead of acting twice. Our key is
also stored in the intent's or refund's metadata, which is how an operation whose
answer was lost is found again (``query_operation``): by search, and because
Stripe's search lags writes by up to about a minute, by listing recent intents.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import stripe
from stripe.params import PaymentIntentCreateParams, SetupIntentCreateParams

from payments.errors import LinkNotCompletedError, ProcessorError
from payments.money import Money
from payments.processor import (
    DeclineCode,
    LinkSession,
    OperationKind,
    Outcome,
    PaymentMethod,
)
from payments.processors.stripe_outcomes import (
    KEY_METADATA,
    approved_from_intent,
    call_or_decline,
    declined,
    increment_marker,
    intent_decline,
    metadata_value,
    money,
    stripe_key,
    translated_errors,
)

_EXPAND_CHARGE = ["latest_charge"]
_ACTIVE_OR_DONE = ("requires_capture", "succeeded", "canceled")


@dataclass(frozen=True)
class StripeConfig:
    api_key: str
    # None means Stripe's production address; tests point this at a local double.
    api_base: str | None = None
    timeout_seconds: float = 30.0
    # The SDK retries network failures with the same Idempotency-Key, which is safe.
    max_network_retries: int = 2
    # Stripe's search lags writes by up to about a minute; intents younger than this are
    # also looked for by listing, which is consistent, when reconciling a lost answer.
    recent_scan_seconds: int = 900


def _split_token(token_ref: str) -> tuple[str, str]:
    customer, sep, payment_method = token_ref.partition("/")
    if not sep or not customer.startswith("cus_") or not payment_method.startswith("pm_"):
        raise ProcessorError(f"not a Stripe token reference: {token_ref!r}")
    return customer, payment_method


class StripeProcessor:
    """Implements ``payments.processor.Processor`` against Stripe (or a test double)."""

    name = "stripe"

    def __init__(self, config: StripeConfig) -> None:
        self._http = stripe.HTTPXClient(timeout=config.timeout_seconds, allow_sync_methods=True)
        client = stripe.StripeClient(
            config.api_key,
            base_addresses={"api": config.api_base} if config.api_base else None,
            max_network_retries=config.max_network_retries,
            http_client=self._http,
        )
        self._v1 = client.v1
        self._recent_scan_seconds = config.recent_scan_seconds

    # -- linking -----------------------------------------------------------------
    def begin_link(
        self, *, customer_ref: str, return_url: str, idempotency_key: str
    ) -> LinkSession:
        meta: dict[str, str] = {"facepay_customer_ref": customer_ref, KEY_METADATA: idempotency_key}
        key = stripe_key(OperationKind.LINK, idempotency_key)
        with translated_errors():
            customer = self._v1.customers.create(
                {"metadata": meta}, {"idempotency_key": f"{key}-customer"}
            )
            setup_params: SetupIntentCreateParams = {
                "customer": customer.id,
                "usage": "off_session",
                "metadata": meta,
            }
            setup = self._v1.setup_intents.create(setup_params, {"idempotency_key": f"{key}-setup"})
        # The card is entered in Stripe's own element with the client secret; return_url
        # is where Stripe.js sends the customer after any 3-D Secure step.
        del return_url
        return LinkSession(setup_ref=str(setup.id), client_secret=str(setup.client_secret))

    def complete_link(self, *, setup_ref: str, idempotency_key: str) -> PaymentMethod:
        del idempotency_key  # reading only: nothing to replay
        with translated_errors():
            try:
                setup = self._v1.setup_intents.retrieve(setup_ref)
            except stripe.InvalidRequestError as exc:
                raise ProcessorError(f"unknown SetupIntent {setup_ref!r}") from exc
            if setup.status != "succeeded" or not setup.payment_method:
                raise LinkNotCompletedError(
                    f"SetupIntent {setup_ref} is {setup.status}, not succeeded"
                )
            method = self._v1.payment_methods.retrieve(str(setup.payment_method))
        card = method.card
        if card is None:
            raise ProcessorError("the linked payment method is not a card")
        return PaymentMethod(
            processor=self.name,
            token_ref=f"{setup.customer}/{method.id}",
            brand=str(card.brand),
            last4=str(card.last4),
            exp_month=int(card.exp_month),
            exp_year=int(card.exp_year),
        )

    # -- holds ---------------------------------------------------------------------
    def authorize(
        self,
        *,
        payment_method: PaymentMethod,
        amount: Money,
        merchant_ref: str,
        idempotency_key: str,
    ) -> Outcome:
        amount.require_positive()
        if payment_method.processor != self.name:
            raise ProcessorError(f"payment method belongs to {payment_method.processor!r}")
        customer, method = _split_token(payment_method.token_ref)
        kind = OperationKind.AUTHORIZE
        params: PaymentIntentCreateParams = {
            "amount": amount.amount,
            "currency": amount.currency.lower(),
            "customer": customer,
            "payment_method": method,
            "capture_method": "manual",
            "confirm": True,
            "off_session": True,
            "payment_method_options": {
                "card": {"request_incremental_authorization": "if_available"}
            },
            "metadata": {KEY_METADATA: idempotency_key, "facepay_merchant_ref": merchant_ref},
            "expand": _EXPAND_CHARGE,
        }

        def call() -> Outcome:
            intent = self._v1.payment_intents.create(
                params, {"idempotency_key": stripe_key(kind, idempotency_key)}
            )
            return approved_from_intent(kind, idempotency_key, intent, amount)

        return call_or_decline(kind, idempotency_key, None, amount, call)

    def increment_authorization(
        self, *, authorization_ref: str, additional: Money, idempotency_key: str
    ) -> Outcome:
        additional.require_positive()
        kind = OperationKind.INCREMENT
        marker = increment_marker(idempotency_key)

        def call() -> Outcome:
            intent = self._retrieve(authorization_ref)
            if metadata_value(intent, marker) is not None:  # applied before the answer was lost
                return approved_from_intent(kind, idempotency_key, intent, additional)
            if intent.status != "requires_capture":
                return declined(
                    kind,
                    idempotency_key,
                    authorization_ref,
                    additional,
                    DeclineCode.AUTHORIZATION_NOT_ACTIVE,
                    f"the intent is {intent.status}",
                )
            details = intent.latest_charge.payment_method_details.card
            if details.incremental_authorization.status != "available":
                return declined(
                    kind,
                    idempotency_key,
                    authorization_ref,
                    additional,
                    DeclineCode.INCREMENT_NOT_SUPPORTED,
                    "incremental authorization is not available; place a second hold",
                )
            raised = self._v1.payment_intents.increment_authorization(
                authorization_ref,
                {
                    "amount": intent.amount + additional.amount,
                    "metadata": {marker: str(additional.amount)},
                    "expand": _EXPAND_CHARGE,
                },
                {"idempotency_key": stripe_key(kind, idempotency_key)},
            )
            return approved_from_intent(kind, idempotency_key, raised, additional)

        return call_or_decline(kind, idempotency_key, authorization_ref, additional, call)

    def capture(self, *, authorization_ref: str, amount: Money, idempotency_key: str) -> Outcome:
        amount.require_positive()
        kind = OperationKind.CAPTURE

        def call() -> Outcome:
            intent = self._v1.payment_intents.capture(
                authorization_ref,
                {"amount_to_capture": amount.amount, "expand": _EXPAND_CHARGE},
                {"idempotency_key": stripe_key(kind, idempotency_key)},
            )
            return approved_from_intent(kind, idempotency_key, intent, amount)

        return call_or_decline(kind, idempotency_key, authorization_ref, amount, call)

    def void(self, *, authorization_ref: str, idempotency_key: str) -> Outcome:
        kind = OperationKind.VOID
        with translated_errors():
            held = self._retrieve(authorization_ref)
        # Uncaptured, the intent's amount is exactly the hold being released.
        released = money(held.amount, str(held.currency))

        def call() -> Outcome:
            intent = self._v1.payment_intents.cancel(
                authorization_ref,
                {"cancellation_reason": "abandoned", "expand": _EXPAND_CHARGE},
                {"idempotency_key": stripe_key(kind, idempotency_key)},
            )
            return approved_from_intent(kind, idempotency_key, intent, released)

        return call_or_decline(kind, idempotency_key, authorization_ref, released, call)

    def refund(self, *, authorization_ref: str, amount: Money, idempotency_key: str) -> Outcome:
        amount.require_positive()
        kind = OperationKind.REFUND

        def call() -> Outcome:
            self._v1.refunds.create(
                {
                    "payment_intent": authorization_ref,
                    "amount": amount.amount,
                    "metadata": {KEY_METADATA: idempotency_key},
                },
                {"idempotency_key": stripe_key(kind, idempotency_key)},
            )
            intent = self._retrieve(authorization_ref)
            return approved_from_intent(kind, idempotency_key, intent, amount)

        return call_or_decline(kind, idempotency_key, authorization_ref, amount, call)

    # -- recovery -------------------------------------------------------------------
    def query_operation(
        self, *, kind: OperationKind, idempotency_key: str, authorization_ref: str | None = None
    ) -> Outcome | None:
        with translated_errors():
            if kind is OperationKind.AUTHORIZE:
                return self._query_authorization(idempotency_key)
            if kind is OperationKind.LINK:
                raise ProcessorError("link sessions are resumed with complete_link, not queried")
            if authorization_ref is None:
                raise ProcessorError(f"querying a {kind.value} needs the authorization_ref")
            intent = self._retrieve(authorization_ref)
            if kind is OperationKind.REFUND:
                return self._query_refund(intent, idempotency_key)
            currency = str(intent.currency)
            if kind is OperationKind.INCREMENT:
                applied = metadata_value(intent, increment_marker(idempotency_key))
                if applied is None:
                    return None
                return approved_from_intent(
                    kind, idempotency_key, intent, money(int(applied), currency)
                )
            if kind is OperationKind.CAPTURE and intent.status == "succeeded":
                captured = money(intent.amount_received, currency)
                return approved_from_intent(kind, idempotency_key, intent, captured)
            if kind is OperationKind.VOID and intent.status == "canceled":
                released = money(intent.amount, currency)
                return approved_from_intent(kind, idempotency_key, intent, released)
            return None

    def _query_authorization(self, idempotency_key: str) -> Outcome | None:
        escaped = idempotency_key.replace("\\", "\\\\").replace("'", "\\'")
        found = self._v1.payment_intents.search(
            {"query": f"metadata['{KEY_METADATA}']:'{escaped}'", "expand": ["data.latest_charge"]}
        )
        intent = found.data[0] if found.data else self._scan_recent(idempotency_key)
        if intent is None:
            return None
        amount = money(intent.amount, str(intent.currency))
        kind = OperationKind.AUTHORIZE
        if intent.status in _ACTIVE_OR_DONE and intent.latest_charge:
            return approved_from_intent(kind, idempotency_key, intent, amount)
        return intent_decline(kind, idempotency_key, intent, amount)

    def _scan_recent(self, idempotency_key: str) -> Any:
        since = int(time.time()) - self._recent_scan_seconds
        page = self._v1.payment_intents.list(
            {"created": {"gte": since}, "limit": 100, "expand": ["data.latest_charge"]}
        )
        for intent in page.auto_paging_iter():
            if metadata_value(intent, KEY_METADATA) == idempotency_key:
                return intent
        return None

    def _query_refund(self, intent: Any, idempotency_key: str) -> Outcome | None:
        refunds = self._v1.refunds.list({"payment_intent": str(intent.id), "limit": 100})
        found: list[Any] = list(refunds.data)
        for refund in found:
            if metadata_value(refund, KEY_METADATA) == idempotency_key:
                amount = money(refund.amount, str(refund.currency))
                return approved_from_intent(OperationKind.REFUND, idempotency_key, intent, amount)
        return None

    def _retrieve(self, intent_id: str) -> Any:
        return self._v1.payment_intents.retrieve(intent_id, {"expand": _EXPAND_CHARGE})

    def close(self) -> None:
        self._http.close()  # type: ignore[no-untyped-call]

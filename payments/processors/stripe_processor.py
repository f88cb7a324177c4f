"""The Stripe processor, built on the official ``stripe`` SDK (StripeClient, API v1).

Cards are linked through a SetupIntent for off-session use; a hold is a
PaymentIntent with ``capture_method=manual`` created and confirmed off-session in
one call; the basket is captured with ``amount_to_capture`` (the rest of the hold
is released); a hold is voided by cancelling the intent. Increments use
Stripe's incremental authorization when the charge reports it available, and
otherwise a second charge: another manual-capture intent on the same card that
travels with the first under one authorization_ref (stripe_hold_group).

Every Stripe request carries an Idempotency-Key derived from our own key and
the step, so a retry after a restart replays instead of acting twice. Our key is
also stored in the intent's or refund's metadata, which is how an operation whose
answer was lost is found again (``query_operation``): by search, and because
Stripe's search lags writes by up to about a minute, by listing recent intents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe
from stripe import RequestOptions
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
from payments.processors.stripe_hold_group import (
    EXPAND_CHARGE,
    EXTRAS_METADATA,
    PART_METADATA,
    SECOND_CHARGE_FOR,
    HoldGroup,
    HoldGroupReader,
    allocate,
    extra_ids,
    refunded_on,
)
from payments.processors.stripe_outcomes import (
    KEY_METADATA,
    call_or_decline,
    declined,
    increment_marker,
    metadata_value,
    stripe_key,
    translated_errors,
)
from payments.processors.stripe_recovery import StripeRecovery


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
        self._reader = HoldGroupReader(self._v1)
        self._recovery = StripeRecovery(self._v1, self._reader, config.recent_scan_seconds)

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
            "expand": EXPAND_CHARGE,
        }

        def call() -> Outcome:
            intent = self._v1.payment_intents.create(
                params, {"idempotency_key": stripe_key(kind, idempotency_key)}
            )
            return HoldGroup((intent,)).approved(kind, idempotency_key, amount)

        return call_or_decline(kind, idempotency_key, None, amount, call)

    def increment_authorization(
        self, *, authorization_ref: str, additional: Money, idempotency_key: str
    ) -> Outcome:
        additional.require_positive()
        kind = OperationKind.INCREMENT
        marker = increment_marker(idempotency_key)

        def call() -> Outcome:
            group = self._group(authorization_ref)
            intent = group.original
            if metadata_value(intent, marker) is not None:  # applied before the answer was lost
                return group.approved(kind, idempotency_key, additional)
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
                return self._second_charge(group, additional, idempotency_key)
            raised = self._v1.payment_intents.increment_authorization(
                authorization_ref,
                {
                    "amount": intent.amount + additional.amount,
                    "metadata": {marker: str(additional.amount)},
                    "expand": EXPAND_CHARGE,
                },
                {"idempotency_key": stripe_key(kind, idempotency_key)},
            )
            return group.with_intent(0, raised).approved(kind, idempotency_key, additional)

        return call_or_decline(kind, idempotency_key, authorization_ref, additional, call)

    def _second_charge(self, group: HoldGroup, additional: Money, idempotency_key: str) -> Outcome:
        """Hold `additional` in a second intent on the same card, then list it on the original."""
        kind, original = OperationKind.INCREMENT, group.original
        key = stripe_key(kind, idempotency_key)
        params: PaymentIntentCreateParams = {
            "amount": additional.amount,
            "currency": additional.currency.lower(),
            "customer": str(original.customer),
            "payment_method": str(original.payment_method),
            "capture_method": "manual",
            "confirm": True,
            "off_session": True,
            "metadata": {SECOND_CHARGE_FOR: str(original.id)},
            "expand": EXPAND_CHARGE,
        }
        extra = self._v1.payment_intents.create(params, {"idempotency_key": f"{key}-second"})
        linked = self._v1.payment_intents.update(
            str(original.id),
            {
                "metadata": {
                    increment_marker(idempotency_key): str(additional.amount),
                    EXTRAS_METADATA: ",".join([*extra_ids(original), str(extra.id)]),
                },
                "expand": EXPAND_CHARGE,
            },
            {"idempotency_key": f"{key}-link"},
        )
        grown = group.with_intent(0, linked).with_intent(len(group.intents), extra)
        return grown.approved(kind, idempotency_key, additional)

    def capture(self, *, authorization_ref: str, amount: Money, idempotency_key: str) -> Outcome:
        amount.require_positive()
        kind = OperationKind.CAPTURE
        key = stripe_key(kind, idempotency_key)

        def call() -> Outcome:
            group = self._group(authorization_ref)
            parts = allocate(amount.amount, [int(i.amount) for i in group.intents])
            if parts is None:
                return declined(
                    kind,
                    idempotency_key,
                    authorization_ref,
                    amount,
                    DeclineCode.AMOUNT_EXCEEDS_AUTHORIZATION,
                    f"capture exceeds the hold of {group.total('amount')}",
                )
            for index, (intent, part) in enumerate(zip(group.intents, parts, strict=True)):
                options: RequestOptions = {"idempotency_key": f"{key}-{index}"}
                if part:
                    done = self._v1.payment_intents.capture(
                        str(intent.id),
                        {"amount_to_capture": part, "expand": EXPAND_CHARGE},
                        options,
                    )
                else:  # a second charge the basket did not need is released
                    done = self._v1.payment_intents.cancel(
                        str(intent.id), {"expand": EXPAND_CHARGE}, options
                    )
                group = group.with_intent(index, done)
            return group.approved(kind, idempotency_key, amount)

        return call_or_decline(kind, idempotency_key, authorization_ref, amount, call)

    def void(self, *, authorization_ref: str, idempotency_key: str) -> Outcome:
        kind = OperationKind.VOID
        key = stripe_key(kind, idempotency_key)
        with translated_errors():
            group = self._group(authorization_ref)
        # Uncaptured, the intents' amounts are exactly the hold being released.
        released = group.total("amount")

        def call() -> Outcome:
            nonlocal group
            for index, intent in enumerate(group.intents):
                canceled = self._v1.payment_intents.cancel(
                    str(intent.id),
                    {"cancellation_reason": "abandoned", "expand": EXPAND_CHARGE},
                    {"idempotency_key": f"{key}-{index}"},
                )
                group = group.with_intent(index, canceled)
            return group.approved(kind, idempotency_key, released)

        return call_or_decline(kind, idempotency_key, authorization_ref, released, call)

    def refund(self, *, authorization_ref: str, amount: Money, idempotency_key: str) -> Outcome:
        amount.require_positive()
        kind = OperationKind.REFUND
        key = stripe_key(kind, idempotency_key)

        def call() -> Outcome:
            group = self._group(authorization_ref)
            if group.original.status != "succeeded":
                return declined(
                    kind,
                    idempotency_key,
                    authorization_ref,
                    amount,
                    DeclineCode.AUTHORIZATION_NOT_ACTIVE,
                    f"nothing captured: the intent is {group.original.status}",
                )
            # Refundable per intent, not counting this key's own earlier parts, so a
            # retry after a partial failure computes the same split.
            refundable = []
            for intent in group.intents:
                own = sum(r.amount for r in self._refunds(intent, idempotency_key))
                refundable.append(int(intent.amount_received) - refunded_on(intent) + own)
            parts = allocate(amount.amount, refundable)
            if parts is None:
                return declined(
                    kind,
                    idempotency_key,
                    authorization_ref,
                    amount,
                    DeclineCode.AMOUNT_EXCEEDS_AUTHORIZATION,
                    f"refund exceeds the {sum(refundable)} captured and not yet refunded",
                )
            used = [(index, part) for index, part in enumerate(parts) if part]
            for number, (index, part) in enumerate(used, start=1):
                self._v1.refunds.create(
                    {
                        "payment_intent": str(group.intents[index].id),
                        "amount": part,
                        "metadata": {
                            KEY_METADATA: idempotency_key,
                            PART_METADATA: f"{number}/{len(used)}",
                        },
                    },
                    {"idempotency_key": f"{key}-{index}"},
                )
            return self._group(authorization_ref).approved(kind, idempotency_key, amount)

        return call_or_decline(kind, idempotency_key, authorization_ref, amount, call)

    # -- recovery -------------------------------------------------------------------
    def query_operation(
        self, *, kind: OperationKind, idempotency_key: str, authorization_ref: str | None = None
    ) -> Outcome | None:
        return self._recovery.query(kind, idempotency_key, authorization_ref)

    def _refunds(self, intent: Any, idempotency_key: str) -> list[Any]:
        return self._reader.refunds(intent, idempotency_key)

    def _group(self, authorization_ref: str) -> HoldGroup:
        return self._reader.group(authorization_ref)

    def close(self) -> None:
        self._http.close()  # type: ignore[no-untyped-call]

"""Translate Stripe SDK objects and errors into the normalised processor outcomes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import stripe

from payments.errors import (
    IdempotencyConflictError,
    ProcessorError,
    ProcessorUnavailableError,
    UnknownOutcomeError,
)
from payments.money import Money
from payments.processor import DeclineCode, OperationKind, Outcome, OutcomeStatus

# Metadata key under which every PaymentIntent and Refund carries our idempotency key,
# so an operation whose answer was lost can be found again.
KEY_METADATA = "facepay_idempotency_key"

_DECLINES: dict[str, DeclineCode] = {
    "insufficient_funds": DeclineCode.INSUFFICIENT_FUNDS,
    "card_velocity_exceeded": DeclineCode.INSUFFICIENT_FUNDS,
    "do_not_honor": DeclineCode.DO_NOT_HONOR,
    "expired_card": DeclineCode.EXPIRED_CARD,
    "lost_card": DeclineCode.LOST_OR_STOLEN,
    "stolen_card": DeclineCode.LOST_OR_STOLEN,
    "pickup_card": DeclineCode.LOST_OR_STOLEN,
}

# Stripe invalid_request_error codes that mean "declined for this authorization's state".
_STATE_DECLINES: dict[str, DeclineCode] = {
    "amount_too_large": DeclineCode.AMOUNT_EXCEEDS_AUTHORIZATION,
    "charge_already_refunded": DeclineCode.AMOUNT_EXCEEDS_AUTHORIZATION,
    "payment_intent_unexpected_state": DeclineCode.AUTHORIZATION_NOT_ACTIVE,
    "charge_expired_for_capture": DeclineCode.AUTHORIZATION_NOT_ACTIVE,
    "incremental_authorization_unavailable": DeclineCode.INCREMENT_NOT_SUPPORTED,
}


def stripe_key(kind: OperationKind, idempotency_key: str) -> str:
    """The Idempotency-Key sent to Stripe: ours, namespaced by step, within 255 chars."""
    raw = f"facepay-{kind.value}-{idempotency_key}"
    if len(raw) <= 255:
        return raw
    return f"facepay-{kind.value}-sha256-{hashlib.sha256(idempotency_key.encode()).hexdigest()}"


def increment_marker(idempotency_key: str) -> str:
    """A metadata key (Stripe allows 40 chars) recording that an increment was applied."""
    return "facepay_inc_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


def field(obj: Any, name: str) -> Any:
    """A StripeObject attribute, or None when Stripe left it out or null."""
    return getattr(obj, name, None)


def metadata_value(obj: Any, name: str) -> str | None:
    meta = field(obj, "metadata")
    return None if meta is None or name not in meta else str(meta[name])


def money(amount: int, currency: str) -> Money:
    return Money(int(amount), currency.upper())


def decline_code_for(code: str | None, decline_code: str | None) -> DeclineCode:
    for candidate in (decline_code, code):
        if candidate in _DECLINES:
            return _DECLINES[candidate]
    return DeclineCode.GENERIC_DECLINE


def declined(
    kind: OperationKind,
    key: str,
    ref: str | None,
    amount: Money,
    code: DeclineCode,
    message: str,
) -> Outcome:
    return Outcome(
        kind=kind,
        status=OutcomeStatus.DECLINED,
        idempotency_key=key,
        authorization_ref=ref,
        amount=amount,
        decline_code=code,
        message=message,
    )


def intent_decline(kind: OperationKind, key: str, intent: Any, amount: Money) -> Outcome | None:
    """The decline recorded on an intent by a failed confirmation, if any."""
    error = field(intent, "last_payment_error")
    if error is None:
        return None
    code = decline_code_for(field(error, "code"), field(error, "decline_code"))
    return declined(kind, key, str(intent.id), amount, code, str(field(error, "message") or ""))


@contextmanager
def translated_errors() -> Iterator[None]:
    """Map transport and API failures that are not declines onto payments errors."""
    try:
        yield
    except stripe.IdempotencyError as exc:
        raise IdempotencyConflictError(exc.user_message or str(exc)) from exc
    except stripe.APIConnectionError as exc:
        if isinstance(exc.__cause__, httpx.ConnectError):
            raise ProcessorUnavailableError("Stripe could not be reached") from exc
        raise UnknownOutcomeError("no answer from Stripe; query the operation") from exc
    except stripe.RateLimitError as exc:
        raise ProcessorUnavailableError("Stripe rate limit") from exc
    except stripe.APIError as exc:
        # A 5xx from Stripe may or may not have been applied.
        raise UnknownOutcomeError(f"Stripe server error: {exc.user_message}") from exc
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        raise ProcessorError(f"Stripe refused our credentials: {exc.user_message}") from exc
    except stripe.StripeError as exc:
        raise ProcessorError(f"Stripe rejected the request: {exc.user_message}") from exc


def call_or_decline(
    kind: OperationKind,
    key: str,
    ref: str | None,
    amount: Money,
    call: Callable[[], Outcome],
) -> Outcome:
    """Run one Stripe step; card errors and state errors become declined outcomes."""
    with translated_errors():
        try:
            return call()
        except stripe.CardError as exc:
            error = exc.error
            code = decline_code_for(exc.code, error.decline_code if error else None)
            intent = error.payment_intent if error else None
            # A declined second charge still reports the hold it was meant to grow.
            intent_ref = str(intent.id) if ref is None and intent is not None else ref
            return declined(kind, key, intent_ref, amount, code, exc.user_message or "")
        except stripe.InvalidRequestError as exc:
            if exc.code in _STATE_DECLINES:
                code = _STATE_DECLINES[exc.code]
                return declined(kind, key, ref, amount, code, exc.user_message or "")
            raise

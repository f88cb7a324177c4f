"""The processor interface every payment processor implements, and its normalised outcomes.

Methods are synchronous; the server calls them from worker threads. Every mutating
call takes an idempotency key chosen by us: sending the same key again must return
the original outcome instead of acting twice, which is what makes retries and the
reconciliation of unknown outcomes safe.

Declines are *results* (``Outcome`` with ``status=DECLINED``), not exceptions.
Exceptions are for "no answer" (``ProcessorUnavailableError`` / ``UnknownOutcomeError``) and
for requests the processor refuses as malformed (``ProcessorError``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from payments.errors import ProcessorError, ProcessorUnavailableError, UnknownOutcomeError
from payments.money import Money

__all__ = [
    "DeclineCode",
    "LinkSession",
    "OperationKind",
    "Outcome",
    "OutcomeStatus",
    "PaymentMethod",
    "Processor",
    "ProcessorError",
    "ProcessorUnavailableError",
    "UnknownOutcomeError",
]


class DeclineCode(StrEnum):
    INSUFFICIENT_FUNDS = "insufficient_funds"
    DO_NOT_HONOR = "do_not_honor"
    EXPIRED_CARD = "expired_card"
    LOST_OR_STOLEN = "lost_or_stolen"
    TOKEN_SUSPENDED = "token_suspended"  # noqa: S105
    PROCESSOR_UNAVAILABLE = "processor_unavailable"
    INVALID_CRYPTOGRAM = "invalid_cryptogram"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - unknown or deleted token
    TOKEN_NOT_ALLOWED = "token_not_allowed"  # noqa: S105 - wrong requestor or channel for the token
    AMOUNT_EXCEEDS_AUTHORIZATION = "amount_exceeds_authorization"
    AUTHORIZATION_NOT_ACTIVE = "authorization_not_active"  # captured, voided or expired
    INCREMENT_NOT_SUPPORTED = "increment_not_supported"
    GENERIC_DECLINE = "generic_decline"


class OperationKind(StrEnum):
    LINK = "link"
    AUTHORIZE = "authorize"
    INCREMENT = "increment"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


class OutcomeStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    """A linked payment method as the platform keeps it: never a card number.

    ``credential`` is processor-specific secret material needed to use the token
    (for the sandbox network: the cryptogram key provisioned with the token).
    """

    processor: str
    token_ref: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    credential: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class LinkSession:
    """Where to send the customer to enter a card on the processor's own page."""

    setup_ref: str
    redirect_url: str | None = None
    client_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The normalised result of one processor operation.

    ``amount`` is the amount of this operation (held, added, captured, voided, refunded).
    ``authorized`` / ``captured`` / ``refunded`` are the authorization's totals after it,
    as the processor reports them.
    """

    kind: OperationKind
    status: OutcomeStatus
    idempotency_key: str
    authorization_ref: str | None
    amount: Money
    decline_code: DeclineCode | None = None
    message: str = ""
    authorized: Money | None = None
    captured: Money | None = None
    refunded: Money | None = None

    @property
    def approved(self) -> bool:
        return self.status is OutcomeStatus.APPROVED


@runtime_checkable
class Processor(Protocol):
    """A card processor as the payments services see it."""

    name: str

    def begin_link(
        self, *, customer_ref: str, return_url: str, idempotency_key: str
    ) -> LinkSession:
        """Start linking a card; the customer enters it on the processor's own page."""
        ...

    def complete_link(self, *, setup_ref: str, idempotency_key: str) -> PaymentMethod:
        """Fetch the token the processor issued for a finished link session."""
        ...

    def authorize(
        self,
        *,
        payment_method: PaymentMethod,
        amount: Money,
        merchant_ref: str,
        idempotency_key: str,
    ) -> Outcome:
        """Place a hold of ``amount`` on the payment method."""
        ...

    def increment_authorization(
        self, *, authorization_ref: str, additional: Money, idempotency_key: str
    ) -> Outcome:
        """Raise an open hold by ``additional``; declines when not supported or no credit."""
        ...

    def capture(self, *, authorization_ref: str, amount: Money, idempotency_key: str) -> Outcome:
        """Capture up to the held amount once; the remainder of the hold is released."""
        ...

    def void(self, *, authorization_ref: str, idempotency_key: str) -> Outcome:
        """Release an uncaptured hold."""
        ...

    def refund(self, *, authorization_ref: str, amount: Money, idempotency_key: str) -> Outcome:
        """Refund part of a capture; repeatable up to the captured amount."""
        ...

    def query_operation(
        self, *, kind: OperationKind, idempotency_key: str, authorization_ref: str | None = None
    ) -> Outcome | None:
        """The outcome of an earlier call sent with ``idempotency_key``, or ``None`` when the
        processor never applied it. ``authorization_ref`` is given when known (for every
        kind except ``AUTHORIZE``) so processors without lookup-by-key can still answer."""
        ...

"""The card-partner processor: FacePay calling a card company's authorization API.

Requests are signed with the partner protocol (HMAC-SHA256 over method, path,
timestamp, nonce and body hash, with a key id for rotation) and every answer's
signature is checked before it is believed. An answer that fails verification
to a mutating call is treated as *no answer* (UnknownOutcomeError): the request
may have been applied, so the reconciliation job queries it with the same key.

Cards are linked by the partner's push provisioning: the customer confirms the
card in the partner's own page and the partner issues a network token plus the
key for its per-transaction cryptograms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import httpx
import msgspec

from payments.cryptogram import new_cryptogram
from payments.errors import (
    IdempotencyConflictError,
    ProcessorError,
    ProcessorUnavailableError,
    UnknownOutcomeError,
)
from payments.money import Money
from payments.network_protocol import UNATTENDED_CABINET_CHANNEL
from payments.partner_protocol import (
    DEFAULT_MAX_SKEW_SECONDS,
    AmountRequest,
    AuthorizeRequest,
    Keyring,
    OperationReply,
    PartnerSignatureError,
    ProvisioningReply,
    ProvisioningRequest,
    VoidRequest,
    encode_key,
    sign_request,
    verify_response,
)
from payments.processor import (
    DeclineCode,
    LinkSession,
    OperationKind,
    Outcome,
    OutcomeStatus,
    PaymentMethod,
)
from payments.processors.provisioning import provisioned_method

PROCESSOR_NAME = "partner"

S = TypeVar("S", bound=msgspec.Struct)


@dataclass(frozen=True)
class PartnerConfig:
    # The partner API root, e.g. "https://partner.example/partner/v1".
    base_url: str
    keyring: Keyring
    channel: str = UNATTENDED_CABINET_CHANNEL
    timeout_seconds: float = 10.0
    max_skew_seconds: int = DEFAULT_MAX_SKEW_SECONDS


class _NoSuchOperationError(Exception):
    pass


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PartnerProcessor:
    """Implements ``payments.processor.Processor`` over the partner protocol."""

    name = PROCESSOR_NAME

    def __init__(
        self,
        config: PartnerConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._config = config
        self._clock = clock
        self._http = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            timeout=config.timeout_seconds,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    # -- linking -----------------------------------------------------------------
    def begin_link(
        self, *, customer_ref: str, return_url: str, idempotency_key: str
    ) -> LinkSession:
        del idempotency_key  # a provisioning session is cheap; an abandoned one expires
        request = ProvisioningRequest(customer_ref=customer_ref, return_url=return_url)
        reply = self._call(
            "POST", "/provisioning-sessions", request, ProvisioningReply, mutating=False
        )
        return LinkSession(setup_ref=reply.session_id, redirect_url=reply.hosted_url)

    def complete_link(self, *, setup_ref: str, idempotency_key: str) -> PaymentMethod:
        del idempotency_key  # reading only
        reply = self._call(
            "GET", f"/provisioning-sessions/{setup_ref}", None, ProvisioningReply, mutating=False
        )
        return provisioned_method(
            PROCESSOR_NAME, reply, "the customer has not confirmed the card with the partner"
        )

    # -- money -------------------------------------------------------------------
    def authorize(
        self,
        *,
        payment_method: PaymentMethod,
        amount: Money,
        merchant_ref: str,
        idempotency_key: str,
    ) -> Outcome:
        amount.require_positive()
        if payment_method.processor != PROCESSOR_NAME or not payment_method.credential:
            raise ProcessorError("payment method is not a partner-provisioned token")
        cryptogram = new_cryptogram(
            payment_method.credential,
            token=payment_method.token_ref,
            amount=amount.amount,
            currency=amount.currency,
            merchant_id=merchant_ref,
            now=self._clock().timestamp(),
        )
        request = AuthorizeRequest(
            idempotency_key=idempotency_key,
            token=payment_method.token_ref,
            amount=amount.amount,
            currency=amount.currency,
            merchant_id=merchant_ref,
            channel=self._config.channel,
            nonce=cryptogram.nonce,
            timestamp=cryptogram.timestamp,
            cryptogram=cryptogram.value,
        )
        try:
            return self._operation("/authorizations", request)
        except IdempotencyConflictError:
            # A retry carries a fresh cryptogram, so the partner sees other parameters.
            # Same amount and currency under the same key: it is our earlier call.
            earlier = self.query_operation(
                kind=OperationKind.AUTHORIZE, idempotency_key=idempotency_key
            )
            if earlier is None or earlier.amount != amount:
                raise
            return earlier

    def increment_authorization(
        self, *, authorization_ref: str, additional: Money, idempotency_key: str
    ) -> Outcome:
        additional.require_positive()
        request = AmountRequest(idempotency_key, additional.amount, additional.currency)
        return self._operation(f"/authorizations/{authorization_ref}/increments", request)

    def capture(self, *, authorization_ref: str, amount: Money, idempotency_key: str) -> Outcome:
        amount.require_positive()
        request = AmountRequest(idempotency_key, amount.amount, amount.currency)
        return self._operation(f"/authorizations/{authorization_ref}/capture", request)

    def void(self, *, authorization_ref: str, idempotency_key: str) -> Outcome:
        return self._operation(
            f"/authorizations/{authorization_ref}/void", VoidRequest(idempotency_key)
        )

    def refund(self, *, authorization_ref: str, amount: Money, idempotency_key: str) -> Outcome:
        amount.require_positive()
        request = AmountRequest(idempotency_key, amount.amount, amount.currency)
        return self._operation(f"/authorizations/{authorization_ref}/refunds", request)

    def query_operation(
        self, *, kind: OperationKind, idempotency_key: str, authorization_ref: str | None = None
    ) -> Outcome | None:
        try:
            reply = self._call(
                "GET",
                f"/operations/{encode_key(idempotency_key)}",
                None,
                OperationReply,
                mutating=False,
            )
        except _NoSuchOperationError:
            return None
        if reply.idempotency_key != idempotency_key:
            raise ProcessorError(f"the partner answered for another key: {reply.idempotency_key!r}")
        if reply.kind != kind.value:
            raise ProcessorError(f"key {idempotency_key!r} belongs to a {reply.kind}, not {kind}")
        return _outcome(reply)

    # -- transport ---------------------------------------------------------------
    def _operation(self, path: str, request: msgspec.Struct) -> Outcome:
        return _outcome(self._call("POST", path, request, OperationReply, mutating=True))

    def _call(
        self,
        method: str,
        path: str,
        request: msgspec.Struct | None,
        reply_type: type[S],
        *,
        mutating: bool,
    ) -> S:
        body = b"" if request is None else msgspec.json.encode(request)
        signed = sign_request(self._config.keyring, method, path, body, self._clock())
        headers = {**signed.as_dict(), "Content-Type": "application/json"}
        unknown = UnknownOutcomeError if mutating else ProcessorUnavailableError
        try:
            response = self._http.request(method, path, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ProcessorUnavailableError(f"partner unreachable: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise unknown(f"no answer from the partner: {exc!r}") from exc
        status = response.status_code
        if status == 401:
            raise ProcessorError(f"the partner refused our signature: {response.text[:200]}")
        try:
            verify_response(
                self._config.keyring,
                status,
                signed.signature,
                response.headers,
                response.content,
                self._clock(),
                max_skew_seconds=self._config.max_skew_seconds,
            )
        except PartnerSignatureError as exc:
            raise unknown(f"partner answer failed authentication: {exc}") from exc
        if status < 300:
            return msgspec.json.decode(response.content, type=reply_type)
        message = response.text[:200]
        if status == 404:
            if path.startswith("/operations/"):
                raise _NoSuchOperationError(message)
            raise ProcessorError(f"partner does not know this object: {message}")
        if status == 409:
            raise IdempotencyConflictError(message)
        if status == 503:
            raise ProcessorUnavailableError(f"partner unavailable: {message}")
        if status >= 500:
            raise unknown(f"partner error {status}: {message}")
        raise ProcessorError(f"partner refused the request ({status}): {message}")


def _outcome(reply: OperationReply) -> Outcome:
    currency = reply.currency
    try:
        decline = DeclineCode(reply.decline_code) if reply.decline_code else None
    except ValueError:
        decline = DeclineCode.GENERIC_DECLINE
    return Outcome(
        kind=OperationKind(reply.kind),
        status=OutcomeStatus(reply.status),
        idempotency_key=reply.idempotency_key,
        authorization_ref=reply.authorization_id,
        amount=Money(reply.amount, currency),
        decline_code=decline,
        message=reply.message,
        authorized=Money(reply.authorized, currency),
        captured=Money(reply.captured, currency),
        refunded=Money(reply.refunded, currency),
    )

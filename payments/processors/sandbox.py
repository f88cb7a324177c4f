"""The ``sandbox`` processor: FacePay as token requestor on the sandbox card network.

It reaches the network only over HTTP (``httpx``; in-process via ``ASGITransport``).
Every authorization carries a fresh cryptogram computed with the key the network
provisioned with the token.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from payments.cryptogram import new_cryptogram
from payments.errors import (
    ProcessorError,
    ProcessorUnavailableError,
    UnknownOutcomeError,
)
from payments.methods import MethodStatus, PaymentMethodStore
from payments.money import Money
from payments.network_protocol import (
    UNATTENDED_CABINET_CHANNEL,
    AmountRequest,
    AuthorizeRequest,
    OperationReply,
    SessionReply,
    SessionRequest,
    verify_notification,
)
from payments.processor import (
    DeclineCode,
    LinkSession,
    OperationKind,
    Outcome,
    OutcomeStatus,
    PaymentMethod,
)
from payments.processors.http_client import BlockingHttp
from payments.processors.provisioning import provisioned_method

PROCESSOR_NAME = "sandbox"

# Token statuses in the network's lifecycle notifications -> our payment-method status.
NOTIFIED_STATUS = {
    "active": MethodStatus.ACTIVE,
    "suspended": MethodStatus.SUSPENDED,
    "deleted": MethodStatus.REMOVED,
}


def apply_token_notification(
    methods: PaymentMethodStore, secret: str, signature_header: str, body: bytes
) -> str:
    """Verify a lifecycle notification from the network and update the payment method.
    Returns the payment method id. Raises ``ValueError`` on a bad or stale signature."""
    event = verify_notification(secret, signature_header, body)
    status = NOTIFIED_STATUS.get(event.status)
    if status is None:
        raise ValueError(f"unknown token status {event.status!r}")
    return methods.set_token_status(PROCESSOR_NAME, event.token, status)


class SandboxProcessor:
    name = PROCESSOR_NAME

    def __init__(
        self,
        *,
        base_url: str,
        requestor_id: str,
        api_key: str,
        merchant_id: str,
        channel: str = UNATTENDED_CABINET_CHANNEL,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.merchant_id = merchant_id
        self.channel = channel
        self._auth = {"Authorization": f"Bearer {api_key}", "Token-Requestor-Id": requestor_id}
        self._http = BlockingHttp(base_url.rstrip("/"), timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    # linking ----------------------------------------------------------------

    def begin_link(
        self, *, customer_ref: str, return_url: str, idempotency_key: str
    ) -> LinkSession:
        body = SessionRequest(customer_ref=customer_ref, return_url=return_url)
        response = self._call("POST", "/tsp/sessions", body, idempotency_key, mutating=False)
        reply = msgspec.json.decode(response.content, type=SessionReply)
        return LinkSession(setup_ref=reply.session_id, redirect_url=reply.hosted_url)

    def complete_link(self, *, setup_ref: str, idempotency_key: str) -> PaymentMethod:
        response = self._call("GET", f"/tsp/sessions/{setup_ref}", None, idempotency_key)
        reply = msgspec.json.decode(response.content, type=SessionReply)
        return provisioned_method(
            PROCESSOR_NAME, reply, "the card has not been entered on the network page yet"
        )

    # payments -----------------------------------------------------------------

    def authorize(
        self,
        *,
        payment_method: PaymentMethod,
        amount: Money,
        merchant_ref: str,
        idempotency_key: str,
    ) -> Outcome:
        if payment_method.processor != PROCESSOR_NAME or not payment_method.credential:
            raise ProcessorError("payment method is not a sandbox network token")
        merchant = merchant_ref or self.merchant_id
        cryptogram = new_cryptogram(
            payment_method.credential,
            token=payment_method.token_ref,
            amount=amount.amount,
            currency=amount.currency,
            merchant_id=merchant,
        )
        body = AuthorizeRequest(
            token=payment_method.token_ref,
            amount=amount.amount,
            currency=amount.currency,
            merchant_id=merchant,
            channel=self.channel,
            nonce=cryptogram.nonce,
            timestamp=cryptogram.timestamp,
            cryptogram=cryptogram.value,
        )
        return self._operation("POST", "/network/authorizations", body, idempotency_key)

    def increment_authorization(
        self, *, authorization_ref: str, additional: Money, idempotency_key: str
    ) -> Outcome:
        body = AmountRequest(amount=additional.amount, currency=additional.currency)
        path = f"/network/authorizations/{authorization_ref}/increments"
        return self._operation("POST", path, body, idempotency_key)

    def capture(self, *, authorization_ref: str, amount: Money, idempotency_key: str) -> Outcome:
        body = AmountRequest(amount=amount.amount, currency=amount.currency)
        path = f"/network/authorizations/{authorization_ref}/capture"
        return self._operation("POST", path, body, idempotency_key)

    def void(self, *, authorization_ref: str, idempotency_key: str) -> Outcome:
        path = f"/network/authorizations/{authorization_ref}/void"
        return self._operation("POST", path, None, idempotency_key)

    def refund(self, *, authorization_ref: str, amount: Money, idempotency_key: str) -> Outcome:
        body = AmountRequest(amount=amount.amount, currency=amount.currency)
        path = f"/network/authorizations/{authorization_ref}/refunds"
        return self._operation("POST", path, body, idempotency_key)

    def query_operation(
        self, *, kind: OperationKind, idempotency_key: str, authorization_ref: str | None = None
    ) -> Outcome | None:
        try:
            response = self._call(
                "GET", f"/network/operations/{idempotency_key}", None, idempotency_key
            )
        except _NotFoundError:
            return None
        return _outcome(msgspec.json.decode(response.content, type=OperationReply))

    # transport ----------------------------------------------------------------

    def _operation(self, method: str, path: str, body: Any, key: str) -> Outcome:
        response = self._call(method, path, body, key, mutating=True)
        return _outcome(msgspec.json.decode(response.content, type=OperationReply))

    def _call(
        self, method: str, path: str, body: Any, key: str, *, mutating: bool = False
    ) -> httpx.Response:
        headers = {**self._auth, "Idempotency-Key": key}
        payload = msgspec.to_builtins(body) if body is not None else None
        try:
            response = self._http.request(method, path, json=payload, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ProcessorUnavailableError(f"sandbox network unreachable: {exc}") from exc
        except httpx.HTTPError as exc:
            if mutating:
                raise UnknownOutcomeError(f"no answer from the sandbox network: {exc!r}") from exc
            raise ProcessorUnavailableError(f"sandbox network failed: {exc!r}") from exc
        status = response.status_code
        if status < 300:
            return response
        message = _error_text(response)
        if status == 404:
            raise _NotFoundError(message)
        if status == 503:
            raise ProcessorUnavailableError(message)
        if status >= 500:
            if mutating:
                raise UnknownOutcomeError(f"sandbox network error {status}: {message}")
            raise ProcessorUnavailableError(message)
        raise ProcessorError(f"sandbox network refused ({status}): {message}")


class _NotFoundError(ProcessorError):
    pass


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    return str(data.get("error") or data.get("detail") or data)[:200]


def _outcome(reply: OperationReply) -> Outcome:
    currency = reply.currency
    return Outcome(
        kind=OperationKind(reply.kind),
        status=OutcomeStatus(reply.status),
        idempotency_key=reply.idempotency_key,
        authorization_ref=reply.authorization_id,
        amount=Money(reply.amount, currency),
        decline_code=DeclineCode(reply.decline_code) if reply.decline_code else None,
        message=reply.message,
        authorized=Money(reply.authorized, currency),
        captured=Money(reply.captured, currency),
        refunded=Money(reply.refunded, currency),
    )

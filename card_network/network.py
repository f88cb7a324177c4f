"""The authorization switch: checks token, domain and cryptogram, asks the issuer, and
keeps every answer under the requestor's idempotency key so repeats and queries agree.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from card_network.cards import Behaviour
from card_network.config import SandboxConfig
from card_network.issuer import Issuer
from card_network.messages import AmountRequest, AuthorizeRequest, ErrorReply, OperationReply
from card_network.tsp import NetworkToken, TokenService, TokenStatus
from payments.cryptogram import cryptogram_matches
from payments.money import CURRENCY_EXPONENTS
from payments.processor import DeclineCode, OperationKind

CLOCK_SKEW_SECONDS = 30


class AuthStatus:
    HELD = "held"
    CAPTURED = "captured"
    VOIDED = "voided"
    EXPIRED = "expired"


@dataclass(slots=True)
class NetworkAuthorization:
    id: str
    requestor_id: str
    token: str
    pan: str
    merchant_id: str
    currency: str
    authorized: int
    created: float
    expires: float
    status: str = AuthStatus.HELD
    captured: int = 0
    refunded: int = 0


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status code, body, and how long to wait before sending it."""

    status_code: int
    body: OperationReply | ErrorReply
    delay: float = 0.0


class SandboxNetwork:
    """All network state, in memory, behind one lock."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.issuer = Issuer(config.default_credit_limit)
        self.tsp = TokenService(self.issuer)
        self.authorizations: dict[str, NetworkAuthorization] = {}
        self.lock = threading.RLock()
        self._operations: dict[tuple[str, str], tuple[str, Reply]] = {}
        self._faults: dict[str, deque[Behaviour]] = defaultdict(deque)

    # fault injection ------------------------------------------------------

    def inject_fault(self, kind: OperationKind, mode: Behaviour, count: int = 1) -> None:
        if mode not in (Behaviour.TIMEOUT, Behaviour.UNAVAILABLE) or count < 1:
            raise ValueError("fault mode must be timeout or unavailable, count >= 1")
        with self.lock:
            self._faults[kind.value].extend([mode] * count)

    def _next_fault(self, kind: OperationKind) -> Behaviour | None:
        queue = self._faults.get(kind.value)
        return queue.popleft() if queue else None

    # queries --------------------------------------------------------------

    def operation(self, requestor_id: str, idempotency_key: str) -> Reply | None:
        with self.lock:
            stored = self._operations.get((requestor_id, idempotency_key))
            return stored[1] if stored else None

    # operations -----------------------------------------------------------

    def authorize(self, requestor_id: str, key: str, req: AuthorizeRequest) -> Reply:
        # The fingerprint leaves out the cryptogram fields: a retry after a lost answer
        # carries a fresh cryptogram but is the same request.
        fingerprint = msgspec.structs.replace(req, nonce="", timestamp=0, cryptogram="")
        return self._idempotent(
            requestor_id,
            key,
            OperationKind.AUTHORIZE,
            fingerprint,
            lambda: self._authorize(requestor_id, key, req),
        )

    def increment(self, requestor_id: str, key: str, auth_id: str, req: AmountRequest) -> Reply:
        return self._idempotent(
            requestor_id,
            key,
            OperationKind.INCREMENT,
            (auth_id, req),
            lambda: self._on_auth(requestor_id, key, auth_id, OperationKind.INCREMENT, req),
        )

    def capture(self, requestor_id: str, key: str, auth_id: str, req: AmountRequest) -> Reply:
        return self._idempotent(
            requestor_id,
            key,
            OperationKind.CAPTURE,
            (auth_id, req),
            lambda: self._on_auth(requestor_id, key, auth_id, OperationKind.CAPTURE, req),
        )

    def void(self, requestor_id: str, key: str, auth_id: str) -> Reply:
        return self._idempotent(
            requestor_id,
            key,
            OperationKind.VOID,
            (auth_id,),
            lambda: self._on_auth(requestor_id, key, auth_id, OperationKind.VOID, None),
        )

    def refund(self, requestor_id: str, key: str, auth_id: str, req: AmountRequest) -> Reply:
        return self._idempotent(
            requestor_id,
            key,
            OperationKind.REFUND,
            (auth_id, req),
            lambda: self._on_auth(requestor_id, key, auth_id, OperationKind.REFUND, req),
        )

    def expire_holds(self, now: float | None = None) -> list[str]:
        """Release holds past their validity (the issuer drops stale authorizations)."""
        now = time.time() if now is None else now
        expired = []
        with self.lock:
            for auth in self.authorizations.values():
                if auth.status == AuthStatus.HELD and auth.expires <= now:
                    card = self.issuer.account(auth.pan)
                    self.issuer.settle(card, auth.currency, auth.authorized, 0)
                    auth.status = AuthStatus.EXPIRED
                    expired.append(auth.id)
        return expired

    # internals ------------------------------------------------------------

    def _idempotent(
        self,
        requestor_id: str,
        key: str,
        kind: OperationKind,
        request: object,
        run: Callable[[], Reply],
    ) -> Reply:
        if not key or len(key) > 200:
            return Reply(400, ErrorReply("Idempotency-Key header of 1-200 characters required"))
        fingerprint = hashlib.sha256(kind.value.encode() + msgspec.json.encode(request)).hexdigest()
        with self.lock:
            stored = self._operations.get((requestor_id, key))
            if stored is not None:
                if stored[0] != fingerprint:
                    return Reply(409, ErrorReply("idempotency key reused with other parameters"))
                return Reply(stored[1].status_code, stored[1].body)  # replay: no delay
            fault = self._next_fault(kind)
            if fault is Behaviour.UNAVAILABLE:
                return Reply(503, ErrorReply("network unavailable"))
            reply = run()
            if reply.status_code < 500 and reply.status_code != 400:
                self._operations[(requestor_id, key)] = (fingerprint, reply)
            if fault is Behaviour.TIMEOUT:
                return Reply(reply.status_code, reply.body, self.config.timeout_delay_seconds)
            return reply

    def _decline(
        self,
        kind: OperationKind,
        key: str,
        auth_id: str | None,
        amount: int,
        currency: str,
        code: DeclineCode,
        message: str = "",
    ) -> Reply:
        return Reply(
            200,
            OperationReply(
                kind=kind.value,
                status="declined",
                idempotency_key=key,
                authorization_id=auth_id,
                amount=amount,
                currency=currency,
                decline_code=code.value,
                message=message or code.value.replace("_", " "),
            ),
        )

    @staticmethod
    def _approved(kind: OperationKind, key: str, auth: NetworkAuthorization, amount: int) -> Reply:
        return Reply(
            200,
            OperationReply(
                kind=kind.value,
                status="approved",
                idempotency_key=key,
                authorization_id=auth.id,
                amount=amount,
                currency=auth.currency,
                authorized=auth.authorized,
                captured=auth.captured,
                refunded=auth.refunded,
            ),
        )

    def _check_token(
        self, requestor_id: str, req: AuthorizeRequest
    ) -> tuple[NetworkToken | None, DeclineCode | None, str]:
        token = self.tsp.tokens.get(req.token)
        if token is None or token.status is TokenStatus.DELETED:
            return None, DeclineCode.INVALID_TOKEN, "unknown or deleted token"
        if token.requestor_id != requestor_id or token.channel != req.channel:
            return None, DeclineCode.TOKEN_NOT_ALLOWED, "token not valid for this requestor/channel"
        if token.status is TokenStatus.SUSPENDED:
            return None, DeclineCode.TOKEN_SUSPENDED, "token suspended"
        now = int(time.time())
        validity = self.config.cryptogram_validity_seconds
        fresh = now - validity <= req.timestamp <= now + CLOCK_SKEW_SECONDS
        matches = cryptogram_matches(
            token.key,
            req.cryptogram,
            token=req.token,
            amount=req.amount,
            currency=req.currency,
            merchant_id=req.merchant_id,
            nonce=req.nonce,
            timestamp=req.timestamp,
        )
        if not matches:
            return None, DeclineCode.INVALID_CRYPTOGRAM, "cryptogram does not verify"
        if not fresh:
            return None, DeclineCode.INVALID_CRYPTOGRAM, "cryptogram expired"
        # forget nonces older than the window: their cryptograms are expired anyway
        token.used_nonces = {n: t for n, t in token.used_nonces.items() if t >= now - validity}
        if req.nonce in token.used_nonces:
            return None, DeclineCode.INVALID_CRYPTOGRAM, "cryptogram already used"
        token.used_nonces[req.nonce] = req.timestamp
        return token, None, ""

    def _authorize(self, requestor_id: str, key: str, req: AuthorizeRequest) -> Reply:
        bad = _bad_amount(req.amount, req.currency)
        if bad:
            return Reply(422, ErrorReply(bad))
        token, code, message = self._check_token(requestor_id, req)
        if code is not None or token is None:
            return self._decline(
                OperationKind.AUTHORIZE,
                key,
                None,
                req.amount,
                req.currency,
                code or DeclineCode.GENERIC_DECLINE,
                message,
            )
        card = self.issuer.account(token.pan)
        if card.behaviour is Behaviour.UNAVAILABLE:
            return Reply(503, ErrorReply("issuer unavailable"))
        code = self.issuer.decide(card, req.currency, req.amount)
        if code is not None:
            return self._decline(OperationKind.AUTHORIZE, key, None, req.amount, req.currency, code)
        self.issuer.hold(card, req.currency, req.amount)
        now = time.time()
        auth = NetworkAuthorization(
            id="auth_" + secrets.token_hex(12),
            requestor_id=requestor_id,
            token=token.number,
            pan=token.pan,
            merchant_id=req.merchant_id,
            currency=req.currency,
            authorized=req.amount,
            created=now,
            expires=now + self.config.hold_validity_seconds,
        )
        self.authorizations[auth.id] = auth
        reply = self._approved(OperationKind.AUTHORIZE, key, auth, req.amount)
        if card.behaviour is Behaviour.TIMEOUT:
            return Reply(reply.status_code, reply.body, self.config.timeout_delay_seconds)
        return reply

    def _on_auth(
        self,
        requestor_id: str,
        key: str,
        auth_id: str,
        kind: OperationKind,
        req: AmountRequest | None,
    ) -> Reply:
        auth = self.authorizations.get(auth_id)
        if auth is None or auth.requestor_id != requestor_id:
            return Reply(404, ErrorReply("authorization not found"))
        amount = auth.authorized if req is None else req.amount
        if req is not None:
            bad = _bad_amount(req.amount, req.currency, allow_zero=kind is OperationKind.CAPTURE)
            if bad or req.currency != auth.currency:
                return Reply(422, ErrorReply(bad or "currency differs from the authorization"))
        if auth.status == AuthStatus.HELD and auth.expires <= time.time():
            self.expire_holds()
        card = self.issuer.account(auth.pan)
        if kind is OperationKind.REFUND:
            if auth.status != AuthStatus.CAPTURED:
                return self._decline(
                    kind,
                    key,
                    auth.id,
                    amount,
                    auth.currency,
                    DeclineCode.AUTHORIZATION_NOT_ACTIVE,
                    "nothing captured",
                )
            if amount > auth.captured - auth.refunded:
                return Reply(422, ErrorReply("refund exceeds the captured amount not yet refunded"))
            self.issuer.refund(card, auth.currency, amount)
            auth.refunded += amount
            return self._approved(kind, key, auth, amount)
        if auth.status != AuthStatus.HELD:
            return self._decline(
                kind,
                key,
                auth.id,
                amount,
                auth.currency,
                DeclineCode.AUTHORIZATION_NOT_ACTIVE,
                f"authorization {auth.status}",
            )
        if kind is OperationKind.INCREMENT:
            code = self.issuer.decide(card, auth.currency, amount)
            if code is not None:
                return self._decline(kind, key, auth.id, amount, auth.currency, code)
            self.issuer.hold(card, auth.currency, amount)
            auth.authorized += amount
        elif kind is OperationKind.CAPTURE:
            if amount > auth.authorized:
                return Reply(422, ErrorReply("capture exceeds the authorized amount"))
            self.issuer.settle(card, auth.currency, auth.authorized, amount)
            auth.captured = amount
            auth.status = AuthStatus.CAPTURED
        else:
            self.issuer.settle(card, auth.currency, auth.authorized, 0)
            auth.status = AuthStatus.VOIDED
        return self._approved(kind, key, auth, amount)


def _bad_amount(amount: int, currency: str, *, allow_zero: bool = False) -> str:
    if currency not in CURRENCY_EXPONENTS:
        return f"unsupported currency {currency!r}"
    if amount < 0 or (amount == 0 and not allow_zero):
        return "amount must be a positive integer in minor units"
    return ""

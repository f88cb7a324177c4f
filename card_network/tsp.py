"""The token service provider: hosted-page enrollment and the network-token lifecycle."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from card_network.cards import luhn_valid, new_token_number
from card_network.issuer import Issuer
from payments.cryptogram import CRYPTOGRAM_KEY_BYTES
from payments.errors import InvalidRequestError, NotFoundError

SESSION_TTL_SECONDS = 30 * 60


class TokenStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


class EnrollmentError(InvalidRequestError):
    """What the customer typed on the hosted page was not accepted."""


@dataclass(slots=True)
class NetworkToken:
    number: str
    pan: str = field(repr=False)
    requestor_id: str
    channel: str
    key: bytes = field(repr=False)
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    status: TokenStatus = TokenStatus.ACTIVE
    # nonce -> timestamp, to refuse replays inside the validity window
    used_nonces: dict[str, int] = field(default_factory=dict, repr=False)


@dataclass(slots=True)
class EnrollmentSession:
    id: str
    requestor_id: str
    channel: str
    customer_ref: str
    return_url: str
    created: float
    token: str | None = None


class TokenService:
    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self.sessions: dict[str, EnrollmentSession] = {}
        self.tokens: dict[str, NetworkToken] = {}
        self._session_keys: dict[tuple[str, str], str] = {}

    def create_session(
        self,
        requestor_id: str,
        channel: str,
        customer_ref: str,
        return_url: str,
        *,
        idempotency_key: str = "",
    ) -> EnrollmentSession:
        """A new enrollment session; the same requestor + key returns the same session."""
        if idempotency_key:
            known = self._session_keys.get((requestor_id, idempotency_key))
            if known is not None and known in self.sessions:
                earlier = self.sessions[known]
                if (earlier.customer_ref, earlier.return_url) != (customer_ref, return_url):
                    raise InvalidRequestError("idempotency key reused with other parameters")
                return earlier
        if not customer_ref or len(customer_ref) > 200:
            raise InvalidRequestError("customer_ref must be 1-200 characters")
        if not return_url.startswith(("http://", "https://")):
            raise InvalidRequestError("return_url must be an http(s) URL")
        session = EnrollmentSession(
            id="ens_" + secrets.token_urlsafe(18),
            requestor_id=requestor_id,
            channel=channel,
            customer_ref=customer_ref,
            return_url=return_url,
            created=time.time(),
        )
        self.sessions[session.id] = session
        if idempotency_key:
            self._session_keys[(requestor_id, idempotency_key)] = session.id
        return session

    def session(self, session_id: str) -> EnrollmentSession:
        session = self.sessions.get(session_id)
        if session is None or time.time() - session.created > SESSION_TTL_SECONDS:
            raise NotFoundError("enrollment session not found or expired")
        return session

    def enroll(
        self, session_id: str, pan: str, exp_month: str, exp_year: str, cvc: str
    ) -> NetworkToken:
        """Turn the card typed on the hosted page into a network token (once per session)."""
        session = self.session(session_id)
        if session.token is not None:
            return self.tokens[session.token]
        pan = pan.replace(" ", "").replace("-", "")
        if not luhn_valid(pan) or not 12 <= len(pan) <= 19:
            raise EnrollmentError("card number is not valid")
        month, year = _expiry(exp_month, exp_year)
        if not (cvc.isdigit() and len(cvc) in (3, 4)):
            raise EnrollmentError("security code must be 3 or 4 digits")
        card = self.issuer.account(pan)
        taken = set(self.tokens) | set(self.issuer.cards)
        token = NetworkToken(
            number=new_token_number(taken),
            pan=pan,
            requestor_id=session.requestor_id,
            channel=session.channel,
            key=secrets.token_bytes(CRYPTOGRAM_KEY_BYTES),
            brand=card.brand,
            last4=pan[-4:],
            exp_month=month,
            exp_year=year,
        )
        self.tokens[token.number] = token
        session.token = token.number
        return token

    def token(self, number: str) -> NetworkToken:
        token = self.tokens.get(number)
        if token is None:
            raise NotFoundError("unknown token")
        return token

    def set_status(self, number: str, status: TokenStatus) -> bool:
        """Change a token's status; returns whether anything changed. Deletion is final."""
        token = self.token(number)
        if token.status is TokenStatus.DELETED:
            if status is TokenStatus.DELETED:
                return False
            raise InvalidRequestError("a deleted token cannot change status")
        if token.status is status:
            return False
        token.status = status
        if status is TokenStatus.DELETED:
            token.key = b""  # the key is gone with the token
        return True


def _expiry(exp_month: str, exp_year: str) -> tuple[int, int]:
    if not (exp_month.isdigit() and exp_year.isdigit()):
        raise EnrollmentError("expiry must be numeric")
    month, year = int(exp_month), int(exp_year)
    if year < 100:
        year += 2000
    if not 1 <= month <= 12:
        raise EnrollmentError("expiry month must be 1-12")
    now = datetime.now(UTC)
    if (year, month) < (now.year, now.month):
        raise EnrollmentError("card has expired")
    return month, year

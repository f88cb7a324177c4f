"""The customer's phone session: a bearer token (also sent as a cookie) after phone verification.

``fps1.<payload>.<mac>``: the payload names the customer and the expiry; the
MAC is HMAC-SHA256 under a key kept for this purpose only. The token is
stateless, and every use also checks that the customer still exists, so
deleting one's data ends every session at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from facepay.customers.errors import AuthenticationError
from facepay.customers.models import Customer
from facepay.db.base import utcnow

PREFIX = "fps1"
SESSION_TTL = timedelta(hours=12)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SessionTokens:
    """Issues and checks customers' session tokens under ``key`` (an HMAC key)."""

    sessions: sessionmaker[Session]
    key: bytes = field(repr=False)

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self.key, f"{PREFIX}.{payload}".encode(), hashlib.sha256).digest())

    def issue(self, customer_id: str, *, now: datetime | None = None) -> tuple[str, datetime]:
        expires = (now or utcnow()) + SESSION_TTL
        claims = {"sub": customer_id, "exp": int(expires.timestamp())}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{PREFIX}.{payload}.{self._mac(payload)}", expires

    def authenticate(self, token: str, *, now: datetime | None = None) -> str:
        """The customer id of a valid session token; AuthenticationError otherwise."""
        parts = token.split(".") if isinstance(token, str) else []
        if len(parts) != 3 or parts[0] != PREFIX:
            raise AuthenticationError("not a FacePay session token")
        if not hmac.compare_digest(self._mac(parts[1]), parts[2]):
            raise AuthenticationError("the session token's signature is not valid")
        try:
            claims = json.loads(_unb64(parts[1]))
            customer_id, expires = str(claims["sub"]), int(claims["exp"])
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthenticationError("the session token is malformed") from exc
        if (now or utcnow()).timestamp() >= expires:
            raise AuthenticationError("the session has expired; verify your phone again")
        with self.sessions() as session:
            customer = session.get(Customer, customer_id)
            if customer is None or customer.status != "active":
                raise AuthenticationError("this customer no longer exists")
        return customer_id

"""The customer's phone session: a bearer token (also sent as a cookie) after phone verification.

``fps1.<payload>.<mac>``: the payload names the customer and the expiry; the
MAC is HMAC-SHA256 under a key derived for this purpose only. The token is
stateless, and every use also checks that the customer still exists, so
deleting one's data ends every session at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta

from facepay.customers.derived_keys import CUSTOMER_SESSION, derive_key
from facepay.customers.errors import AuthenticationError
from facepay.customers.models import Customer
from facepay.db.base import utcnow
from facepay.platform import Platform

PREFIX = "fps1"
SESSION_TTL = timedelta(hours=12)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(platform: Platform, payload: str) -> str:
    key = derive_key(platform.keys.signing_key, CUSTOMER_SESSION)
    return _b64(hmac.new(key, f"{PREFIX}.{payload}".encode(), hashlib.sha256).digest())


def issue_session_token(
    platform: Platform, customer_id: str, *, now: datetime | None = None
) -> tuple[str, datetime]:
    expires = (now or utcnow()) + SESSION_TTL
    body = json.dumps({"sub": customer_id, "exp": int(expires.timestamp())}, separators=(",", ":"))
    payload = _b64(body.encode())
    return f"{PREFIX}.{payload}.{_mac(platform, payload)}", expires


def authenticate(platform: Platform, token: str, *, now: datetime | None = None) -> str:
    """The customer id of a valid session token; AuthenticationError otherwise."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or parts[0] != PREFIX:
        raise AuthenticationError("not a FacePay session token")
    if not hmac.compare_digest(_mac(platform, parts[1]), parts[2]):
        raise AuthenticationError("the session token's signature is not valid")
    try:
        claims = json.loads(_unb64(parts[1]))
        customer_id, expires = str(claims["sub"]), int(claims["exp"])
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthenticationError("the session token is malformed") from exc
    if (now or utcnow()).timestamp() >= expires:
        raise AuthenticationError("the session has expired; verify your phone again")
    with platform.sessions() as session:
        customer = session.get(Customer, customer_id)
        if customer is None or customer.status != "active":
            raise AuthenticationError("this customer no longer exists")
    return customer_id

"""QR unlock tokens: a short-lived, single-use code on the customer's phone.

Token: ``FPQ1.`` + base64url(jti 16 B | expiry u32 | customer id 16 B | MAC 16 B).
The MAC is HMAC-SHA256 (truncated to 128 bits) under a key kept for this
purpose only. HMAC rather than an Ed25519
signature because only this server ever verifies the token (the cabinet just
reads and relays it, and single use needs the server's database anyway), and
a 52-byte token makes a sparser QR code than a 100-byte signed one, which a
cabinet camera reads more reliably at arm's length.

Single use: the token's row is consumed by one conditional UPDATE, so two
cabinets presenting the same token cannot both succeed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
import struct
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import segno
from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from cabinet_runtime.protocol import QR_TOKEN_PREFIX
from facepay.customers.lookup import load_customer
from facepay.customers.models import CohortMembership, QrToken
from facepay.db.base import utcnow
from facepay.errors import FacePayError

PREFIX = QR_TOKEN_PREFIX
TOKEN_TTL = timedelta(seconds=30)
_BODY = struct.Struct(">16sI16s")
_MAC_BYTES = 16


class QrTokenError(FacePayError):
    """The token cannot unlock. ``reason``: malformed|forged|expired|replayed|unknown|
    customer_inactive|not_enrolled_at_site."""

    status_code = 403
    problem_type = "https://facepay.dev/problems/qr-token-rejected"
    title = "QR code rejected"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class QrTokens:
    """Issues and redeems QR unlock tokens under ``key`` (an HMAC key)."""

    sessions: sessionmaker[Session]
    key: bytes = field(repr=False)

    def mac(self, body: bytes) -> bytes:
        return hmac.new(self.key, body, hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self, customer_id: str, *, now: datetime | None = None) -> str:
        """A fresh token for the customer's phone page, valid for TOKEN_TTL."""
        now = now or utcnow()
        expires = now + TOKEN_TTL
        jti = secrets.token_bytes(16)
        with self.sessions.begin() as session:
            load_customer(session, customer_id)
            # Expired tokens of this customer are worthless; keep the table small.
            session.execute(
                delete(QrToken).where(
                    QrToken.customer_id == customer_id,
                    QrToken.expires_at < now - timedelta(hours=1),
                )
            )
            session.add(QrToken(jti=jti.hex(), customer_id=customer_id, expires_at=expires))
        body = _BODY.pack(jti, int(expires.timestamp()), uuid.UUID(customer_id).bytes)
        return PREFIX + base64.urlsafe_b64encode(body + self.mac(body)).decode().rstrip("=")

    def _parse(self, token: str) -> tuple[str, datetime, str]:
        if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > 200:
            raise QrTokenError("malformed", "this is not a FacePay QR code")
        text = token[len(PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except ValueError:
            raise QrTokenError("malformed", "the QR code is damaged") from None
        if len(raw) != _BODY.size + _MAC_BYTES:
            raise QrTokenError("malformed", "the QR code is damaged")
        body, mac = raw[: _BODY.size], raw[_BODY.size :]
        if not hmac.compare_digest(self.mac(body), mac):
            raise QrTokenError("forged", "the QR code was not issued by FacePay")
        jti, expires, customer = _BODY.unpack(body)
        return jti.hex(), datetime.fromtimestamp(expires, UTC), str(uuid.UUID(bytes=customer))

    def redeem(self, token: str, site_id: str, *, now: datetime | None = None) -> str:
        """The customer the token was issued to, at a cabinet of ``site_id``; consumes the
        token. QrTokenError otherwise."""
        now = now or utcnow()
        jti, expires, customer_id = self._parse(token)
        if now >= expires:
            raise QrTokenError("expired", "the QR code has expired; refresh it on your phone")
        with self.sessions.begin() as session:
            result = session.execute(
                update(QrToken)
                .where(
                    QrToken.jti == jti,
                    QrToken.customer_id == customer_id,
                    QrToken.redeemed_at.is_(None),
                    QrToken.expires_at > now,
                )
                .values(redeemed_at=now, redeemed_site_id=site_id)
            )
            if cast(CursorResult[Any], result).rowcount != 1:
                row = session.get(QrToken, jti)
                if row is None:
                    raise QrTokenError("unknown", "the QR code is not known here")
                raise QrTokenError("replayed", "the QR code has already been used")
            try:
                load_customer(session, customer_id)
            except FacePayError:
                raise QrTokenError("customer_inactive", "this customer can no longer pay") from None
            member = session.scalar(
                select(CohortMembership.id).where(
                    CohortMembership.customer_id == customer_id,
                    CohortMembership.site_id == site_id,
                )
            )
            if member is None:
                # Raising rolls the consumption back: the code still works where it is valid.
                raise QrTokenError("not_enrolled_at_site", "you have not joined this store")
        return customer_id


def qr_png(token: str, *, scale: int = 8) -> bytes:
    """The token as a PNG QR code (medium error correction, 4-module quiet zone)."""
    buffer = io.BytesIO()
    segno.make(token, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()

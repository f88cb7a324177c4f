"""Per-transaction cryptograms for network tokens (sandbox card network scheme).

The token requestor holds a key provisioned with the token and computes, for every
authorization, an HMAC-SHA256 over the token, amount, currency, merchant, a fresh
nonce and a timestamp. The network recomputes it, checks the timestamp window and
refuses a nonce it has seen before, so a cryptogram cannot be replayed or moved to
another amount or merchant.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

CRYPTOGRAM_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class Cryptogram:
    nonce: str
    timestamp: int
    value: str


def _message(
    token: str, amount: int, currency: str, merchant_id: str, nonce: str, timestamp: int
) -> bytes:
    return f"v1|{token}|{amount}|{currency}|{merchant_id}|{nonce}|{timestamp}".encode()


def compute_cryptogram(
    key: bytes,
    *,
    token: str,
    amount: int,
    currency: str,
    merchant_id: str,
    nonce: str,
    timestamp: int,
) -> str:
    digest = hmac.new(
        key, _message(token, amount, currency, merchant_id, nonce, timestamp), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_cryptogram(
    key: bytes,
    *,
    token: str,
    amount: int,
    currency: str,
    merchant_id: str,
    now: float | None = None,
) -> Cryptogram:
    nonce = secrets.token_urlsafe(16)
    timestamp = int(time.time() if now is None else now)
    value = compute_cryptogram(
        key,
        token=token,
        amount=amount,
        currency=currency,
        merchant_id=merchant_id,
        nonce=nonce,
        timestamp=timestamp,
    )
    return Cryptogram(nonce=nonce, timestamp=timestamp, value=value)


def cryptogram_matches(
    key: bytes,
    value: str,
    *,
    token: str,
    amount: int,
    currency: str,
    merchant_id: str,
    nonce: str,
    timestamp: int,
) -> bool:
    expected = compute_cryptogram(
        key,
        token=token,
        amount=amount,
        currency=currency,
        merchant_id=merchant_id,
        nonce=nonce,
        timestamp=timestamp,
    )
    return hmac.compare_digest(expected.encode(), value.encode())

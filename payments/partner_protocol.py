"""The card-partner wire protocol: HMAC-SHA256 signed requests and responses.

Both sides use this module: FacePay's partner processor (client) and any
partner endpoint, including the sandbox network's (server). It holds the signing
scheme and the JSON messages of the partner authorization API.

A request is signed over its method, path, timestamp, nonce and the SHA-256 of
its body, under a key named by a key id header, so partners can rotate keys by
keeping several active at once. A response is signed over its status, the
timestamp, the body hash *and the request's signature*, so a recorded response
cannot be replayed as the answer to a different request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import msgspec

HEADER_KEY_ID = "X-Partner-Key-Id"
HEADER_TIMESTAMP = "X-Partner-Timestamp"
HEADER_NONCE = "X-Partner-Nonce"
HEADER_SIGNATURE = "X-Partner-Signature"

DEFAULT_MAX_SKEW_SECONDS = 300
API_PREFIX = "/partner/v1"
_MIN_SECRET_BYTES = 32


class PartnerSignatureError(Exception):
    """A partner message failed authentication; the reason is safe to log."""


@dataclass(frozen=True)
class PartnerKey:
    key_id: str
    secret: bytes

    def __post_init__(self) -> None:
        if not self.key_id or not self.key_id.isprintable() or " " in self.key_id:
            raise ValueError("key id must be a non-empty printable token")
        if len(self.secret) < _MIN_SECRET_BYTES:
            raise ValueError(f"partner secret must be at least {_MIN_SECRET_BYTES} bytes")

    @classmethod
    def generate(cls, key_id: str) -> PartnerKey:
        return cls(key_id=key_id, secret=secrets.token_bytes(_MIN_SECRET_BYTES))


class Keyring:
    """Several active keys, one of which signs; any active key verifies."""

    def __init__(self, keys: Iterable[PartnerKey], signing_key_id: str) -> None:
        self._keys: dict[str, PartnerKey] = {}
        for key in keys:
            if key.key_id in self._keys:
                raise ValueError(f"duplicate key id {key.key_id!r}")
            self._keys[key.key_id] = key
        if signing_key_id not in self._keys:
            raise ValueError(f"signing key {signing_key_id!r} is not in the keyring")
        self._signing_key_id = signing_key_id

    @property
    def signing_key(self) -> PartnerKey:
        return self._keys[self._signing_key_id]

    def get(self, key_id: str) -> PartnerKey | None:
        return self._keys.get(key_id)

    def key_ids(self) -> list[str]:
        return sorted(self._keys)


@dataclass(frozen=True)
class SignedHeaders:
    key_id: str
    timestamp: int
    nonce: str
    signature: str

    def as_dict(self) -> dict[str, str]:
        return {
            HEADER_KEY_ID: self.key_id,
            HEADER_TIMESTAMP: str(self.timestamp),
            HEADER_NONCE: self.nonce,
            HEADER_SIGNATURE: self.signature,
        }

    @classmethod
    def parse(cls, headers: Mapping[str, str]) -> SignedHeaders:
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            key_id = lowered[HEADER_KEY_ID.lower()]
            raw_ts = lowered[HEADER_TIMESTAMP.lower()]
            nonce = lowered[HEADER_NONCE.lower()]
            signature = lowered[HEADER_SIGNATURE.lower()]
        except KeyError as missing:
            raise PartnerSignatureError(f"missing header {missing.args[0]}") from None
        if not raw_ts.isdigit():
            raise PartnerSignatureError("timestamp is not a whole number of seconds")
        return cls(key_id=key_id, timestamp=int(raw_ts), nonce=nonce, signature=signature)


def encode_key(idempotency_key: str) -> str:
    """An idempotency key as one URL path segment (base64url, no padding): keys may hold
    '/', '?' or spaces, which a path cannot carry verbatim."""
    return base64.urlsafe_b64encode(idempotency_key.encode()).decode().rstrip("=")


def decode_key(segment: str) -> str:
    """The inverse of encode_key; raises ValueError on a malformed segment."""
    if not segment or not all(c.isalnum() or c in "-_" for c in segment):
        raise ValueError("not a base64url segment")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not an encoded idempotency key") from exc


def _body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def request_string(method: str, path: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    return "\n".join(
        ("request", method.upper(), path, str(timestamp), nonce, _body_hash(body))
    ).encode()


def response_string(
    status: int, request_signature: str, timestamp: int, nonce: str, body: bytes
) -> bytes:
    return "\n".join(
        ("response", str(status), request_signature, str(timestamp), nonce, _body_hash(body))
    ).encode()


def _mac(key: PartnerKey, message: bytes) -> str:
    return hmac.new(key.secret, message, hashlib.sha256).hexdigest()


def _unix(now: datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return int(now.timestamp())


def sign_request(
    keyring: Keyring, method: str, path: str, body: bytes, now: datetime
) -> SignedHeaders:
    key = keyring.signing_key
    ts, nonce = _unix(now), secrets.token_hex(16)
    return SignedHeaders(
        key.key_id, ts, nonce, _mac(key, request_string(method, path, ts, nonce, body))
    )


def sign_response(
    keyring: Keyring, status: int, request_signature: str, body: bytes, now: datetime
) -> SignedHeaders:
    key = keyring.signing_key
    ts, nonce = _unix(now), secrets.token_hex(16)
    message = response_string(status, request_signature, ts, nonce, body)
    return SignedHeaders(key.key_id, ts, nonce, _mac(key, message))


def _check(
    keyring: Keyring,
    signed: SignedHeaders,
    message: bytes,
    now: datetime,
    max_skew_seconds: int,
) -> PartnerKey:
    key = keyring.get(signed.key_id)
    if key is None:
        raise PartnerSignatureError(f"unknown key id {signed.key_id!r}")
    if abs(_unix(now) - signed.timestamp) > max_skew_seconds:
        raise PartnerSignatureError("timestamp outside the allowed skew")
    if not hmac.compare_digest(_mac(key, message), signed.signature):
        raise PartnerSignatureError("signature mismatch")
    return key


def verify_request(
    keyring: Keyring,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    *,
    max_skew_seconds: int = DEFAULT_MAX_SKEW_SECONDS,
    replay_guard: ReplayGuard | None = None,
) -> SignedHeaders:
    """Authenticate a request; raises PartnerSignatureError. Returns the parsed headers."""
    signed = SignedHeaders.parse(headers)
    message = request_string(method, path, signed.timestamp, signed.nonce, body)
    _check(keyring, signed, message, now, max_skew_seconds)
    if replay_guard is not None:
        replay_guard.claim(signed, now)
    return signed


def verify_response(
    keyring: Keyring,
    status: int,
    request_signature: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    *,
    max_skew_seconds: int = DEFAULT_MAX_SKEW_SECONDS,
) -> SignedHeaders:
    """Authenticate a response to the request that carried `request_signature`."""
    signed = SignedHeaders.parse(headers)
    message = response_string(status, request_signature, signed.timestamp, signed.nonce, body)
    _check(keyring, signed, message, now, max_skew_seconds)
    return signed


class ReplayGuard:
    """Remembers (key id, nonce) pairs for the skew window so a captured request
    cannot be sent again while its timestamp is still fresh."""

    def __init__(self, max_skew_seconds: int = DEFAULT_MAX_SKEW_SECONDS) -> None:
        self._window = max_skew_seconds
        self._seen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def claim(self, signed: SignedHeaders, now: datetime) -> None:
        now_ts = _unix(now)
        with self._lock:
            horizon = now_ts - 2 * self._window
            for stale in [k for k, ts in self._seen.items() if ts < horizon]:
                del self._seen[stale]
            marker = (signed.key_id, signed.nonce)
            if marker in self._seen:
                raise PartnerSignatureError("request replayed")
            self._seen[marker] = signed.timestamp


# -- messages of the partner authorization API ------------------------------------------------
# The idempotency key travels in the signed body, not a header, so it cannot be altered.


class ProvisioningRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    customer_ref: str
    return_url: str


class ProvisioningReply(msgspec.Struct, frozen=True):
    session_id: str
    status: str  # "pending" | "completed"
    hosted_url: str
    token: str | None = None
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    cryptogram_key: str | None = None  # base64, provisioned with the token


class AuthorizeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    idempotency_key: str
    token: str
    amount: int
    currency: str
    merchant_id: str
    channel: str
    nonce: str
    timestamp: int
    cryptogram: str


class AmountRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    idempotency_key: str
    amount: int
    currency: str


class VoidRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    idempotency_key: str


class OperationReply(msgspec.Struct, frozen=True):
    kind: str
    status: str  # "approved" | "declined"
    idempotency_key: str
    authorization_id: str | None
    amount: int
    currency: str
    decline_code: str | None = None
    message: str = ""
    authorized: int = 0
    captured: int = 0
    refunded: int = 0


class ErrorReply(msgspec.Struct, frozen=True):
    error: str

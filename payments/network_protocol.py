"""The token-requestor wire protocol of a card network such as the sandbox network.

Both sides use this module: FacePay's ``sandbox`` processor (client) and the
network itself (``card_network``, server). It holds the JSON messages of the
TSP and authorization API and the signing scheme of token lifecycle
notifications, so the processor never imports the network's code.

A notification carries ``Sandbox-Signature: t=<unix time>,v1=<hex
HMAC-SHA256(secret, "<t>.<body>")>``, the scheme of Stripe's webhooks.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import msgspec

# Operations and enrollment sessions are answered the way the partner API answers
# them (a TSP enrollment session is a partner provisioning session).
from payments.partner_protocol import ErrorReply as ErrorReply
from payments.partner_protocol import OperationReply as OperationReply
from payments.partner_protocol import ProvisioningReply, ProvisioningRequest

UNATTENDED_CABINET_CHANNEL = "unattended_cabinet"
SIGNATURE_HEADER = "Sandbox-Signature"
DEFAULT_TOLERANCE_SECONDS = 300

SessionRequest = ProvisioningRequest
SessionReply = ProvisioningReply


class AuthorizeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: str
    amount: int
    currency: str
    merchant_id: str
    channel: str
    nonce: str
    timestamp: int
    cryptogram: str


class AmountRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount: int
    currency: str


class TokenNotification(msgspec.Struct, frozen=True):
    id: str
    type: str  # token.suspended | token.resumed | token.deleted
    token: str
    status: str
    created: int


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_notification(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> TokenNotification:
    """Check a notification's signature and age; return the decoded notification."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise ValueError("malformed signature header") from exc
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise ValueError("bad signature")
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise ValueError("stale notification")
    return msgspec.json.decode(body, type=TokenNotification)

"""Token lifecycle notifications to the token requestor, signed like Stripe webhooks.

Header ``Sandbox-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import httpx
import msgspec

from payments.sandbox.config import SandboxConfig, TokenRequestor
from payments.sandbox.messages import TokenNotification

SIGNATURE_HEADER = "Sandbox-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


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


@dataclass(slots=True)
class Delivery:
    notification: TokenNotification
    url: str
    attempts: int = 0
    delivered: bool = False
    last_error: str = ""


class Notifier:
    """Delivers notifications with a few retries; keeps a log that tests and admins read."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.deliveries: list[Delivery] = []

    def build(self, event_type: str, token: str, status: str) -> TokenNotification:
        return TokenNotification(
            id="evt_" + secrets.token_hex(10),
            type=event_type,
            token=token,
            status=status,
            created=int(time.time()),
        )

    async def deliver(self, requestor: TokenRequestor, notification: TokenNotification) -> None:
        if not requestor.notify_url:
            return
        delivery = Delivery(notification, requestor.notify_url)
        self.deliveries.append(delivery)
        body = msgspec.json.encode(notification)
        async with httpx.AsyncClient(timeout=5.0) as client:
            for attempt in range(self.config.notify_attempts):
                delivery.attempts = attempt + 1
                headers = {
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(requestor.notify_secret, body, int(time.time())),
                }
                try:
                    response = await client.post(
                        requestor.notify_url, content=body, headers=headers
                    )
                    if response.status_code < 300:
                        delivery.delivered = True
                        return
                    delivery.last_error = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    delivery.last_error = type(exc).__name__
                await asyncio.sleep(self.config.notify_backoff_seconds * 2**attempt)

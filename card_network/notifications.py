"""Token lifecycle notifications to the token requestor, signed like Stripe webhooks
(the scheme is in ``payments.network_protocol``, which the requestor verifies with)."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass

import httpx
import msgspec

from card_network.config import SandboxConfig, TokenRequestor
from payments.network_protocol import SIGNATURE_HEADER, TokenNotification, sign


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

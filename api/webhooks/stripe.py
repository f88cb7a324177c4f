"""Inbound webhooks from processors. Stripe's are verified (Stripe-Signature,
300 s tolerance, constant-time compare) and deduplicated by event id; the endpoint
answers only when the stripe processor is enabled with a webhook secret."""

from __future__ import annotations

import logging

import msgspec
from anyio import to_thread
from litestar import Request, post
from litestar.datastructures import State
from litestar.di import NamedDependency

from facepay.errors import NotFoundError
from facepay.payment_services import PaymentServices
from facepay.settings import Settings
from payments.db import utcnow, write_transaction
from payments.webhooks_inbound import handle_stripe_webhook

log = logging.getLogger(__name__)


class WebhookReceipt(msgspec.Struct):
    event_id: str
    duplicate: bool


@post("/v1/webhooks/stripe", tags=["webhooks"], status_code=200)
async def stripe_webhook(
    request: Request[object, object, State],
    settings: NamedDependency[Settings],
    payments: NamedDependency[PaymentServices],
) -> WebhookReceipt:
    stripe = settings.processors.stripe
    secret = stripe.webhook_secret if stripe is not None else None
    if not secret:
        raise NotFoundError("Stripe webhooks are not configured on this server")
    payload = await request.body()
    header = request.headers.get("stripe-signature")

    def handle() -> WebhookReceipt:
        with write_transaction(payments.engine) as session:
            outcome = handle_stripe_webhook(session, payload, header, secret, utcnow())
            if outcome.is_new:
                # Holds and captures are confirmed synchronously; events are kept for audit.
                log.info("stripe event %s (%s)", outcome.event_id, outcome.event_type)
            return WebhookReceipt(outcome.event_id, duplicate=not outcome.is_new)

    return await to_thread.run_sync(handle)

"""Inbound webhooks from processors."""

from api.webhooks.stripe import stripe_webhook

ROUTE_HANDLERS = (stripe_webhook,)

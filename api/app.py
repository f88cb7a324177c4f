"""Builds the Litestar application; nothing else happens here."""

from __future__ import annotations

from litestar import Litestar
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from api.cabinets import provision_cabinet
from api.customers import CustomerController
from api.gateway import cabinet_gateway
from api.health import healthz, readyz
from api.pages.customer_pages import customer_pages
from api.problems import EXCEPTION_HANDLERS
from api.receipts import receipt_json, receipt_page
from api.recovery import recovery
from api.sandbox_mount import sandbox_network
from api.webhooks import stripe_webhook
from facepay.platform import Platform
from facepay.settings import Settings, load_settings


def channels_backend(settings: Settings) -> ChannelsBackend:
    """In-process by default; Redis pub/sub when several API nodes share cabinets."""
    if settings.redis_url:
        from litestar.channels.backends.redis import RedisChannelsPubSubBackend
        from redis.asyncio import Redis

        return RedisChannelsPubSubBackend(
            redis=Redis.from_url(settings.redis_url), key_prefix="facepay-channels"
        )
    return MemoryChannelsBackend()


def create_app(platform: Platform) -> Litestar:
    return Litestar(
        route_handlers=[
            healthz,
            readyz,
            provision_cabinet,
            cabinet_gateway,
            sandbox_network(platform),
            receipt_page,
            receipt_json,
            stripe_webhook,
            CustomerController,
            customer_pages,
        ],
        lifespan=[recovery],
        state=State({"platform": platform}),
        plugins=[
            ChannelsPlugin(
                backend=channels_backend(platform.settings), arbitrary_channels_allowed=True
            )
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(title="FacePay", version="0.1.0", path="/schema"),
        on_shutdown=[platform.close],
    )


def create_app_from_environment() -> Litestar:
    """The factory `facepay serve` hands to uvicorn."""
    return create_app(Platform(load_settings()))

"""Builds the Litestar application from the settings; nothing else happens here."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar import Litestar
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from api import cabinets, customers, webhooks
from api.cabinets.channels_link import ChannelsCabinetLink
from api.health import healthz, readyz
from api.problems import EXCEPTION_HANDLERS
from api.sandbox_mount import sandbox_network
from facepay.bootstrap import Services, bootstrap
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


def _value(value: Any) -> Provide:
    def provide() -> Any:
        return value

    return Provide(provide, use_cache=True, sync_to_thread=False)


def service_dependencies(services: Services) -> dict[str, Provide]:
    """Each handler names the one service it uses; this is the only place that knows
    where each lives."""
    return {
        "settings": _value(services.settings),
        "engine": _value(services.engine),
        "inbox": _value(services.checkout.inbox),
        "provisioning": _value(services.provisioning),
        "payments": _value(services.payments),
        **customers.dependencies(services.customers),
    }


def _background(services: Services, link: ChannelsCabinetLink) -> Callable[[Litestar], Any]:
    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        link.bind(asyncio.get_running_loop())
        task = asyncio.create_task(services.recovery.run_forever())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


def create_app(settings: Settings, **edges: Any) -> Litestar:
    """``edges`` replace the bootstrap's edges (a processor, the notifier, the clock) in
    tests; the built services are on ``app.state.services``."""
    channels = ChannelsPlugin(backend=channels_backend(settings), arbitrary_channels_allowed=True)
    link = ChannelsCabinetLink(channels)
    services = bootstrap(settings, link=link, **edges)
    return Litestar(
        route_handlers=[
            healthz,
            readyz,
            *cabinets.ROUTE_HANDLERS,
            *customers.route_handlers,
            sandbox_network(services.settings, services.keys),
            *webhooks.ROUTE_HANDLERS,
        ],
        dependencies=service_dependencies(services),
        lifespan=[_background(services, link)],
        state=State({"services": services}),
        plugins=[channels],
        exception_handlers=dict(EXCEPTION_HANDLERS.items()),
        openapi_config=OpenAPIConfig(title="FacePay", version="0.1.0", path="/schema"),
        on_shutdown=[services.close],
    )


def create_app_from_environment() -> Litestar:
    """The factory `facepay serve` hands to uvicorn."""
    return create_app(load_settings())

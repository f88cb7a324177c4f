"""The sandbox card network, mounted in-process under ``SANDBOX_MOUNT``.

It stays a separate ASGI application with its own state; the server's
``sandbox`` processor reaches it over HTTP like any card network. It is built
on the first request, so the server starts (and /readyz can say what is
missing) even before keys exist.
"""

from __future__ import annotations

from functools import cache

from litestar import Litestar
from litestar.handlers import ASGIRouteHandler, asgi
from litestar.types import Receive, Scope, Send

from facepay.payment_services import SANDBOX_MOUNT, sandbox_config
from facepay.platform import Platform
from payments.sandbox.app import create_sandbox_app


def sandbox_network(platform: Platform) -> ASGIRouteHandler:
    @cache
    def network() -> Litestar:
        return create_sandbox_app(sandbox_config(platform.settings, platform.keys))

    @asgi(SANDBOX_MOUNT, is_mount=True, copy_scope=True)
    async def mounted(scope: Scope, receive: Receive, send: Send) -> None:
        await network()(scope, receive, send)

    return mounted

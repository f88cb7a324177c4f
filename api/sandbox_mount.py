"""The sandbox card network, mounted in-process under ``SANDBOX_MOUNT``.

It stays a separate ASGI application (``card_network``) with its own state; the
server's ``sandbox`` processor reaches it over HTTP like any card network. Its
configuration is built here, where it is mounted, so ``facepay`` never imports
the network. It is built on the first request, so the server starts (and
/readyz can say what is missing) even before keys exist.
"""

from __future__ import annotations

from functools import cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Litestar
from litestar.handlers import ASGIRouteHandler, asgi
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from card_network.app import create_sandbox_app
from card_network.config import SandboxConfig, TokenRequestor
from facepay.payment_services import SANDBOX_MOUNT, TOKEN_REQUESTOR_ID, sandbox_api_key
from facepay.platform import Platform
from facepay.settings import Settings


def sandbox_config(settings: Settings, signing_key: Ed25519PrivateKey) -> SandboxConfig:
    """The in-process network's configuration: FacePay is its one token requestor."""
    return SandboxConfig(
        requestors=(
            TokenRequestor(
                requestor_id=TOKEN_REQUESTOR_ID, api_key=sandbox_api_key(settings, signing_key)
            ),
        ),
        public_url=settings.effective_public_url.rstrip("/") + SANDBOX_MOUNT,
    )


def mounted_in_process(settings: Settings) -> bool:
    """The network runs inside this server only when the sandbox processor is enabled
    without the URL of a separately running one."""
    sandbox = settings.processors.sandbox
    return sandbox is not None and sandbox.network_url is None


def sandbox_network(platform: Platform) -> ASGIRouteHandler:
    @cache
    def network() -> Litestar:
        return create_sandbox_app(sandbox_config(platform.settings, platform.keys.signing_key))

    @asgi(SANDBOX_MOUNT, is_mount=True, copy_scope=True)
    async def mounted(scope: Scope, receive: Receive, send: Send) -> None:
        if not mounted_in_process(platform.settings):
            await _not_here(send)
            return
        await network()(scope, receive, send)

    return mounted


async def _not_here(send: Send) -> None:
    body = b'{"status":404,"title":"Not found","detail":"no card network runs in this server"}'
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 404,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)

"""Helpers shared by the sandbox network's route modules."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from litestar import Request, Response
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException

from payments.sandbox.config import TokenRequestor
from payments.sandbox.network import Reply, SandboxNetwork

REQUESTOR_HEADER = "Token-Requestor-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def network_of(state: State) -> SandboxNetwork:
    network: SandboxNetwork = state.network
    return network


def bearer(request: Request[Any, Any, Any]) -> str:
    auth = request.headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else ""


def authenticate_requestor(
    request: Request[Any, Any, Any], network: SandboxNetwork
) -> TokenRequestor:
    requestor = network.config.requestor(request.headers.get(REQUESTOR_HEADER, ""))
    if requestor is None or not hmac.compare_digest(bearer(request), requestor.api_key):
        raise NotAuthorizedException("unknown token requestor or bad API key")
    return requestor


def is_admin(request: Request[Any, Any, Any], network: SandboxNetwork) -> bool:
    key = network.config.admin_key
    return bool(key) and hmac.compare_digest(bearer(request), key)


def require_admin(request: Request[Any, Any, Any], network: SandboxNetwork) -> None:
    if not is_admin(request, network):
        raise NotAuthorizedException("admin key required")


async def send(reply: Reply) -> Response[Any]:
    if reply.delay:
        await asyncio.sleep(reply.delay)  # the "timeout" behaviour: applied, answered late
    return Response(reply.body, status_code=reply.status_code)

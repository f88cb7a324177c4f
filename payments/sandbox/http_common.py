"""Helpers shared by the sandbox network's route modules."""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from litestar.datastructures import State
from litestar.di import Provide
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


@dataclass(frozen=True)
class Caller:
    """An authenticated token requestor and the idempotency key of its call."""

    network: SandboxNetwork
    requestor: TokenRequestor
    idempotency_key: str

    @property
    def requestor_id(self) -> str:
        return self.requestor.requestor_id


async def _caller(request: Request[Any, Any, Any], state: State) -> Caller:
    network = network_of(state)
    requestor = authenticate_requestor(request, network)
    return Caller(network, requestor, request.headers.get(IDEMPOTENCY_HEADER, ""))


# Routes that only a token requestor may call take ``caller: NamedDependency[Caller]``.
CALLER = {"caller": Provide(_caller)}


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

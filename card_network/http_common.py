"""Helpers shared by the sandbox network's route modules."""

from __future__ import annotations

import asyncio
import base64
import hmac
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException

from card_network.config import TokenRequestor
from card_network.messages import SessionReply
from card_network.network import Reply, SandboxNetwork
from card_network.tsp import EnrollmentSession

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


def _base_url(request: Request[Any, Any, Any], network: SandboxNetwork) -> str:
    if network.config.public_url:
        return network.config.public_url.rstrip("/")
    # Mounted inside another app, the path we see has the mount prefix cut off; the raw
    # path still has it.
    raw = request.scope.get("raw_path", b"").decode("latin-1")
    path = request.scope["path"]
    prefix = raw[: len(raw) - len(path)] if path and raw.endswith(path) else ""
    return str(request.base_url).rstrip("/") + prefix.rstrip("/")


def session_reply(
    request: Request[Any, Any, Any], network: SandboxNetwork, session: EnrollmentSession
) -> SessionReply:
    """An enrollment session as both front-ends answer it (the TSP API and the partner API)."""
    hosted = f"{_base_url(request, network)}/tsp/enroll/{session.id}"
    if session.token is None:
        return SessionReply(session_id=session.id, status="pending", hosted_url=hosted)
    token = network.tsp.token(session.token)
    return SessionReply(
        session_id=session.id,
        status="completed",
        hosted_url=hosted,
        token=token.number,
        brand=token.brand,
        last4=token.last4,
        exp_month=token.exp_month,
        exp_year=token.exp_year,
        cryptogram_key=base64.b64encode(token.key).decode(),
    )

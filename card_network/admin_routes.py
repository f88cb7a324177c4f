"""Issuer and operator endpoints of the sandbox network (admin key): card limits,
credit views, hold expiry and fault injection."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from card_network.cards import Behaviour
from card_network.http_common import network_of, require_admin
from card_network.messages import FaultRequest
from payments.errors import InvalidRequestError
from payments.processor import OperationKind


@post("/admin/faults", status_code=204)
async def inject_fault(
    request: Request[Any, Any, Any], state: State, data: JSONBody[FaultRequest]
) -> None:
    net = network_of(state)
    require_admin(request, net)
    try:
        net.inject_fault(OperationKind(data.kind), Behaviour(data.mode), data.count)
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from exc


@post("/admin/cards/{pan:str}/limit", status_code=200)
async def set_limit(
    request: Request[Any, Any, Any],
    state: State,
    pan: FromPath[str],
    data: JSONBody[dict[str, int]],
) -> dict[str, Any]:
    net = network_of(state)
    require_admin(request, net)
    limit = data.get("limit")
    if not isinstance(limit, int) or limit < 0:
        raise InvalidRequestError("limit must be a non-negative integer")
    with net.lock:
        card = net.issuer.set_limit(pan, limit)
        return {"limit": card.limit}


@get("/admin/cards/{pan:str}/credit/{currency:str}")
async def card_credit(
    request: Request[Any, Any, Any], state: State, pan: FromPath[str], currency: FromPath[str]
) -> dict[str, int]:
    net = network_of(state)
    require_admin(request, net)
    with net.lock:
        card = net.issuer.account(pan)
        return {
            "limit": card.limit,
            "held": card.held[currency],
            "posted": card.posted[currency],
            "available": card.available(currency),
        }


@post("/admin/expire-holds", status_code=200)
async def expire_holds(request: Request[Any, Any, Any], state: State) -> dict[str, list[str]]:
    net = network_of(state)
    require_admin(request, net)
    return {"expired": net.expire_holds()}


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


ADMIN_ROUTES = (inject_fault, set_limit, card_credit, expire_holds, health)

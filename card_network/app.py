"""The sandbox card network as a Litestar ASGI application.

Token requestors authenticate with ``Authorization: Bearer <api key>`` plus
``Token-Requestor-Id``; issuer/operator actions use the admin key. Mutating calls
carry an ``Idempotency-Key`` header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from litestar import Litestar, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body, FromPath, JSONBody
from litestar.response import Redirect
from litestar.types import ControllerRouterHandler

from card_network.admin_routes import ADMIN_ROUTES
from card_network.config import SandboxConfig
from card_network.hosted_page import render_enroll_page
from card_network.http_common import (
    CALLER,
    Caller,
    authenticate_requestor,
    is_admin,
    network_of,
    send,
    session_reply,
)
from card_network.messages import (
    AmountRequest,
    AuthorizeRequest,
    ErrorReply,
    SessionReply,
    SessionRequest,
)
from card_network.network import NetworkAuthorization, SandboxNetwork
from card_network.notifications import Notifier
from card_network.partner_api import PartnerApiConfig, partner_router
from card_network.tsp import EnrollmentError, TokenStatus
from payments.errors import InvalidRequestError, NotFoundError

# --- token service provider -------------------------------------------------


@post("/tsp/sessions", status_code=201, dependencies=CALLER)
async def create_session(
    request: Request[Any, Any, Any], caller: NamedDependency[Caller], data: JSONBody[SessionRequest]
) -> SessionReply:
    network = caller.network
    with network.lock:
        session = network.tsp.create_session(
            caller.requestor_id,
            caller.requestor.channel,
            data.customer_ref,
            data.return_url,
            idempotency_key=caller.idempotency_key,
        )
    return session_reply(request, network, session)


@get("/tsp/sessions/{session_id:str}", dependencies=CALLER)
async def get_session(
    request: Request[Any, Any, Any], caller: NamedDependency[Caller], session_id: FromPath[str]
) -> SessionReply:
    network = caller.network
    with network.lock:
        session = network.tsp.session(session_id)
        if session.requestor_id != caller.requestor_id:
            raise NotFoundError("enrollment session not found or expired")
        return session_reply(request, network, session)


# A card-entry page: never cached, never framed, never leaking its URL onwards.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'; default-src 'none'; "
    "style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@get("/tsp/enroll/{session_id:str}", media_type="text/html")
async def enroll_page(state: State, session_id: FromPath[str]) -> Response[str]:
    network = network_of(state)
    with network.lock:
        network.tsp.session(session_id)
    return Response(render_enroll_page(f"./{session_id}"), headers=PAGE_HEADERS)


@post("/tsp/enroll/{session_id:str}", media_type="text/html", status_code=200)
async def enroll_submit(
    state: State,
    session_id: FromPath[str],
    data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[str] | Redirect:
    network = network_of(state)
    try:
        with network.lock:
            session = network.tsp.session(session_id)
            network.tsp.enroll(
                session_id,
                data.get("pan", ""),
                data.get("exp_month", ""),
                data.get("exp_year", ""),
                data.get("cvc", ""),
            )
    except EnrollmentError as exc:
        page = render_enroll_page(f"./{session_id}", str(exc))
        return Response(page, status_code=400, media_type="text/html", headers=PAGE_HEADERS)
    return Redirect(
        _with_query(session.return_url, session_id=session.id),
        status_code=303,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


@get("/tsp/tokens/{token:str}")
async def token_status(
    request: Request[Any, Any, Any], state: State, token: FromPath[str]
) -> dict[str, str]:
    network = network_of(state)
    admin = is_admin(request, network)
    requestor_id = "" if admin else authenticate_requestor(request, network).requestor_id
    with network.lock:
        found = network.tsp.token(token)
        if not admin and found.requestor_id != requestor_id:
            raise NotFoundError("unknown token")
        return {"token": found.number, "status": found.status.value}


_ACTIONS = {
    "suspend": TokenStatus.SUSPENDED,
    "resume": TokenStatus.ACTIVE,
    "delete": TokenStatus.DELETED,
}
_EVENTS = {
    TokenStatus.SUSPENDED: "token.suspended",
    TokenStatus.ACTIVE: "token.resumed",
    TokenStatus.DELETED: "token.deleted",
}


@post("/tsp/tokens/{token:str}/{action:str}", status_code=200)
async def token_lifecycle(
    request: Request[Any, Any, Any], state: State, token: FromPath[str], action: FromPath[str]
) -> Response[dict[str, str]]:
    """Suspend, resume or delete a token (issuer via admin key, or its own requestor)."""
    network = network_of(state)
    status = _ACTIONS.get(action)
    if status is None:
        raise NotFoundError(f"unknown action {action!r}")
    admin = is_admin(request, network)
    requestor_id = "" if admin else authenticate_requestor(request, network).requestor_id
    with network.lock:
        found = network.tsp.token(token)
        if not admin and found.requestor_id != requestor_id:
            raise NotFoundError("unknown token")
        changed = network.tsp.set_status(token, status)
        owner = network.config.requestor(found.requestor_id)
    background = None
    if changed and owner is not None:
        notifier: Notifier = state.notifier
        event = notifier.build(_EVENTS[status], found.number, status.value)
        background = BackgroundTask(notifier.deliver, owner, event)
    return Response({"token": token, "status": status.value}, background=background)


# --- authorizations -----------------------------------------------------------


@post("/network/authorizations", dependencies=CALLER)
async def authorize(
    caller: NamedDependency[Caller], data: JSONBody[AuthorizeRequest]
) -> Response[Any]:
    return await send(caller.network.authorize(caller.requestor_id, caller.idempotency_key, data))


@post("/network/authorizations/{auth_id:str}/increments", dependencies=CALLER)
async def increment(
    caller: NamedDependency[Caller], auth_id: FromPath[str], data: JSONBody[AmountRequest]
) -> Response[Any]:
    network = caller.network
    return await send(network.increment(caller.requestor_id, caller.idempotency_key, auth_id, data))


@post("/network/authorizations/{auth_id:str}/capture", dependencies=CALLER)
async def capture(
    caller: NamedDependency[Caller], auth_id: FromPath[str], data: JSONBody[AmountRequest]
) -> Response[Any]:
    network = caller.network
    return await send(network.capture(caller.requestor_id, caller.idempotency_key, auth_id, data))


@post("/network/authorizations/{auth_id:str}/void", dependencies=CALLER)
async def void(caller: NamedDependency[Caller], auth_id: FromPath[str]) -> Response[Any]:
    return await send(caller.network.void(caller.requestor_id, caller.idempotency_key, auth_id))


@post("/network/authorizations/{auth_id:str}/refunds", dependencies=CALLER)
async def refund(
    caller: NamedDependency[Caller], auth_id: FromPath[str], data: JSONBody[AmountRequest]
) -> Response[Any]:
    network = caller.network
    return await send(network.refund(caller.requestor_id, caller.idempotency_key, auth_id, data))


@get("/network/authorizations/{auth_id:str}", dependencies=CALLER)
async def get_authorization(
    caller: NamedDependency[Caller], auth_id: FromPath[str]
) -> dict[str, Any]:
    with caller.network.lock:
        auth = caller.network.authorizations.get(auth_id)
        if auth is None or auth.requestor_id != caller.requestor_id:
            raise NotFoundError("authorization not found")
        return _auth_view(auth)


def _auth_view(auth: NetworkAuthorization) -> dict[str, Any]:
    return {
        "id": auth.id,
        "status": auth.status,
        "currency": auth.currency,
        "authorized": auth.authorized,
        "captured": auth.captured,
        "refunded": auth.refunded,
        "merchant_id": auth.merchant_id,
    }


@get("/network/operations/{key:str}", dependencies=CALLER)
async def get_operation(caller: NamedDependency[Caller], key: FromPath[str]) -> Response[Any]:
    reply = caller.network.operation(caller.requestor_id, key)
    if reply is None:
        return Response(ErrorReply("no operation with this idempotency key"), status_code=404)
    return Response(reply.body, status_code=reply.status_code)


def _problem(status: int) -> Any:
    def handler(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorReply]:
        return Response(ErrorReply(str(exc)), status_code=status)

    return handler


ROUTES: tuple[ControllerRouterHandler, ...] = (
    create_session,
    get_session,
    enroll_page,
    enroll_submit,
    token_status,
    token_lifecycle,
    authorize,
    increment,
    capture,
    void,
    refund,
    get_authorization,
    get_operation,
    *ADMIN_ROUTES,
)


def create_sandbox_app(
    config: SandboxConfig,
    network: SandboxNetwork | None = None,
    *,
    extra_route_handlers: Sequence[ControllerRouterHandler] = (),
    partner: PartnerApiConfig | None = None,
    debug: bool = False,
) -> Litestar:
    """Build the network app. Pass ``network`` to share state (e.g. with tests).

    ``extra_route_handlers`` lets other network front-ends join the same app; they
    find the network at ``state.network``. ``partner`` mounts the card-partner API
    (``/partner/v1``) for the token requestor it names.
    """
    network = network or SandboxNetwork(config)
    partner_routes = [partner_router(partner)] if partner is not None else []
    return Litestar(
        route_handlers=[*ROUTES, *partner_routes, *extra_route_handlers],
        state=State({"network": network, "notifier": Notifier(config)}),
        exception_handlers={
            NotFoundError: _problem(404),
            InvalidRequestError: _problem(422),
            HTTPException: lambda _r, exc: Response(
                ErrorReply(str(exc.detail)),
                status_code=exc.status_code,
            ),
        },
        debug=debug,
        openapi_config=None,
    )

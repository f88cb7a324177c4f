"""The sandbox network acting as a card partner: the partner authorization API.

Card companies integrate with FacePay as partners that expose an authorization
API signed with the partner protocol (payments.partner_protocol). The sandbox
network speaks that protocol too, over the same network core (tokens,
cryptograms, issuer), so the partner processor is tested over real HTTP.

Every request must carry a valid signature from a key in the partner keyring,
with a fresh timestamp and an unseen nonce; otherwise it is refused with 401 and
nothing happens. Every answer to an authenticated request is signed and bound
to that request's signature.

Signed paths are relative to the API root (``/authorizations/...``), so the
signature does not depend on where the sandbox app is mounted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.params import FromPath

from card_network import messages as network_messages
from card_network.http_common import session_reply
from card_network.network import Reply, SandboxNetwork
from payments.errors import InvalidRequestError, NotFoundError
from payments.partner_protocol import (
    API_PREFIX,
    DEFAULT_MAX_SKEW_SECONDS,
    AmountRequest,
    AuthorizeRequest,
    ErrorReply,
    Keyring,
    PartnerSignatureError,
    ProvisioningRequest,
    ReplayGuard,
    VoidRequest,
    decode_key,
    sign_response,
    verify_request,
)


@dataclass(frozen=True)
class PartnerApiConfig:
    keyring: Keyring
    # The token requestor (FacePay) whose tokens and authorizations this API serves.
    requestor_id: str
    max_skew_seconds: int = DEFAULT_MAX_SKEW_SECONDS


# An answer before signing: status, message, and how late to send it (timeout behaviour).
_Answer = tuple[int, msgspec.Struct, float]
_Operation = Callable[[SandboxNetwork, bytes], _Answer]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _from_reply(reply: Reply) -> _Answer:
    return reply.status_code, reply.body, reply.delay


def partner_router(config: PartnerApiConfig, clock: Callable[[], datetime] = _utcnow) -> Router:
    """The partner API as a Litestar router; mount it in the sandbox app."""
    guard = ReplayGuard(config.max_skew_seconds)
    requestor_id = config.requestor_id

    async def serve(
        request: Request[Any, Any, Any], state: State, signed_path: str, operation: _Operation
    ) -> Response[bytes]:
        body = await request.body()
        try:
            signed = verify_request(
                config.keyring,
                request.method,
                signed_path,
                dict(request.headers),
                body,
                clock(),
                max_skew_seconds=config.max_skew_seconds,
                replay_guard=guard,
            )
        except PartnerSignatureError as exc:
            return _json(401, ErrorReply(f"authentication failed: {exc}"), {})
        network: SandboxNetwork = state.network
        try:
            status, message, delay = operation(network, body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            status, message, delay = 400, ErrorReply(f"malformed request: {exc}"), 0.0
        except NotFoundError as exc:
            status, message, delay = 404, ErrorReply(str(exc)), 0.0
        except InvalidRequestError as exc:
            status, message, delay = 422, ErrorReply(str(exc)), 0.0
        if delay:
            await asyncio.sleep(delay)
        encoded = msgspec.json.encode(message)
        headers = sign_response(config.keyring, status, signed.signature, encoded, clock())
        return _json(status, encoded, headers.as_dict())

    @post("/provisioning-sessions")
    async def create_session(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
        def run(network: SandboxNetwork, body: bytes) -> _Answer:
            data = msgspec.json.decode(body, type=ProvisioningRequest)
            requestor = network.config.requestor(requestor_id)
            if requestor is None:
                raise NotFoundError("the partner's token requestor is not configured")
            with network.lock:
                session = network.tsp.create_session(
                    requestor_id, requestor.channel, data.customer_ref, data.return_url
                )
                return 201, session_reply(request, network, session), 0.0

        return await serve(request, state, "/provisioning-sessions", run)

    @get("/provisioning-sessions/{session_id:str}")
    async def get_session(
        request: Request[Any, Any, Any], state: State, session_id: FromPath[str]
    ) -> Response[bytes]:
        def run(network: SandboxNetwork, body: bytes) -> _Answer:
            with network.lock:
                session = network.tsp.session(session_id)
                if session.requestor_id != requestor_id:
                    raise NotFoundError("provisioning session not found")
                return 200, session_reply(request, network, session), 0.0

        return await serve(request, state, f"/provisioning-sessions/{session_id}", run)

    @post("/authorizations")
    async def authorize(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
        def run(network: SandboxNetwork, body: bytes) -> _Answer:
            data = msgspec.json.decode(body, type=AuthorizeRequest)
            fields = msgspec.structs.asdict(data)
            key = fields.pop("idempotency_key")
            forwarded = network_messages.AuthorizeRequest(**fields)
            return _from_reply(network.authorize(requestor_id, key, forwarded))

        return await serve(request, state, "/authorizations", run)

    def on_authorization(
        action: str, call: Callable[[SandboxNetwork, str, str, AmountRequest], Reply]
    ) -> Callable[[Request[Any, Any, Any], State, str], Awaitable[Response[bytes]]]:
        async def handler(
            request: Request[Any, Any, Any], state: State, auth_id: FromPath[str]
        ) -> Response[bytes]:
            def run(network: SandboxNetwork, body: bytes) -> _Answer:
                data = msgspec.json.decode(body, type=AmountRequest)
                return _from_reply(call(network, data.idempotency_key, auth_id, data))

            return await serve(request, state, f"/authorizations/{auth_id}/{action}", run)

        return handler

    def amount(data: AmountRequest) -> network_messages.AmountRequest:
        return network_messages.AmountRequest(amount=data.amount, currency=data.currency)

    increment = post("/authorizations/{auth_id:str}/increments", name="partner_increment")(
        on_authorization(
            "increments", lambda n, k, a, d: n.increment(requestor_id, k, a, amount(d))
        )
    )
    capture = post("/authorizations/{auth_id:str}/capture", name="partner_capture")(
        on_authorization("capture", lambda n, k, a, d: n.capture(requestor_id, k, a, amount(d)))
    )
    refund = post("/authorizations/{auth_id:str}/refunds", name="partner_refund")(
        on_authorization("refunds", lambda n, k, a, d: n.refund(requestor_id, k, a, amount(d)))
    )

    @post("/authorizations/{auth_id:str}/void")
    async def void(
        request: Request[Any, Any, Any], state: State, auth_id: FromPath[str]
    ) -> Response[bytes]:
        def run(network: SandboxNetwork, body: bytes) -> _Answer:
            data = msgspec.json.decode(body, type=VoidRequest)
            return _from_reply(network.void(requestor_id, data.idempotency_key, auth_id))

        return await serve(request, state, f"/authorizations/{auth_id}/void", run)

    @get("/operations/{encoded_key:str}")
    async def operation(
        request: Request[Any, Any, Any], state: State, encoded_key: FromPath[str]
    ) -> Response[bytes]:
        def run(network: SandboxNetwork, body: bytes) -> _Answer:
            try:
                key = decode_key(encoded_key)
            except ValueError as exc:
                return 400, ErrorReply(f"malformed key: {exc}"), 0.0
            reply = network.operation(requestor_id, key)
            if reply is None:
                return 404, ErrorReply("no operation with this idempotency key"), 0.0
            return reply.status_code, reply.body, 0.0

        return await serve(request, state, f"/operations/{encoded_key}", run)

    return Router(
        path=API_PREFIX,
        route_handlers=[
            create_session,
            get_session,
            authorize,
            increment,
            capture,
            void,
            refund,
            operation,
        ],
    )


def _json(status: int, content: bytes | msgspec.Struct, headers: dict[str, str]) -> Response[bytes]:
    body = content if isinstance(content, bytes) else msgspec.json.encode(content)
    return Response(content=body, status_code=status, media_type=MediaType.JSON, headers=headers)

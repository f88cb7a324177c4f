"""The cabinet WebSocket gateway: authenticate the device, then relay messages.

A connection starts with ``hello`` → ``challenge`` → ``auth_response`` signed by
the device key registered at provisioning. After that the cabinet id is fixed
for the connection: every message is handled as that cabinet's, so a cabinet
cannot act for another one. Messages to a cabinet travel through Litestar
channels (in-process, or Redis between API nodes), so any node can reach a
cabinet connected to another node.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, cast

from anyio import to_thread
from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect

from cabinet_runtime.protocol import (
    Ack,
    AuthFailed,
    AuthOk,
    AuthResponse,
    CabinetMessage,
    Challenge,
    ErrorReply,
    Hello,
    ProtocolError,
    Telemetry,
    decode_from_cabinet,
    encode,
)
from facepay.cabinets import link
from facepay.checkout.conversation import handle_cabinet_message, handle_malformed
from facepay.platform import Platform

log = logging.getLogger(__name__)

GATEWAY_PATH = "/v1/cabinets/ws"
AUTH_FAILED_CLOSE_CODE = 4401
PROTOCOL_ERROR_CLOSE_CODE = 4400


def cabinet_channel(cabinet_id: str) -> str:
    return f"cabinet.{cabinet_id}"


async def _receive(socket: WebSocket[Any, Any, Any]) -> CabinetMessage:
    event = await socket.receive()
    if event["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(detail="disconnected", code=event.get("code", 1000))
    data = cast("bytes | str", event.get("bytes") or event.get("text") or b"")
    return decode_from_cabinet(data)


async def _authenticate(socket: WebSocket[Any, Any, Any], platform: Platform) -> str | None:
    hello = await _receive(socket)
    if not isinstance(hello, Hello):
        raise ProtocolError(f"expected hello, got {type(hello).__name__}")
    nonce = link.new_challenge()
    await socket.send_bytes(encode(Challenge(nonce=nonce)))
    answer = await _receive(socket)
    if not isinstance(answer, AuthResponse) or answer.cabinet_id != hello.cabinet_id:
        raise ProtocolError("expected auth_response for the cabinet that said hello")

    def verify() -> None:
        with platform.sessions.begin() as session:
            link.authenticate_device(session, hello.cabinet_id, nonce, answer.signature)
            link.set_presence(session, hello.cabinet_id, online=True)

    try:
        await to_thread.run_sync(verify)
    except link.DeviceAuthError as exc:
        log.warning("cabinet %s failed device authentication", hello.cabinet_id)
        await socket.send_bytes(encode(AuthFailed(reason=str(exc))))
        await socket.close(AUTH_FAILED_CLOSE_CODE, "authentication failed")
        return None
    await socket.send_bytes(encode(AuthOk(cabinet_id=hello.cabinet_id, server_time=time.time())))
    return hello.cabinet_id


@websocket(GATEWAY_PATH)
async def cabinet_gateway(
    socket: WebSocket[Any, Any, Any], channels: NamedDependency[ChannelsPlugin], state: State
) -> None:
    platform: Platform = state.platform
    await socket.accept()
    try:
        cabinet_id = await _authenticate(socket, platform)
    except (ProtocolError, WebSocketDisconnect) as exc:
        log.info("cabinet connection refused: %s", exc)
        await _close_quietly(socket, PROTOCOL_ERROR_CLOSE_CODE, "protocol error")
        return
    if cabinet_id is None:
        return
    try:
        async with (
            channels.start_subscription(cabinet_channel(cabinet_id)) as subscriber,
            subscriber.run_in_background(socket.send_bytes),
        ):
            await _resend_unacknowledged(platform, channels, cabinet_id)
            await _serve(socket, platform, channels, cabinet_id)
    except WebSocketDisconnect:
        pass
    finally:

        def offline() -> None:
            with platform.sessions.begin() as session:
                link.set_presence(session, cabinet_id, online=False)

        await to_thread.run_sync(offline)


async def _resend_unacknowledged(
    platform: Platform, channels: ChannelsPlugin, cabinet_id: str
) -> None:
    def pending() -> list[bytes]:
        with platform.sessions() as session:
            return list(link.unacknowledged(session, cabinet_id))

    for payload in await to_thread.run_sync(pending):
        channels.publish(payload, cabinet_channel(cabinet_id))


async def _serve(
    socket: WebSocket[Any, Any, Any], platform: Platform, channels: ChannelsPlugin, cabinet_id: str
) -> None:
    def publish(payload: bytes) -> None:
        channels.publish(payload, cabinet_channel(cabinet_id))

    while True:
        received: CabinetMessage | ProtocolError
        try:
            received = await _receive(socket)
        except ProtocolError as exc:
            received = exc
        # --- edge (temporary, until the cabinet inbox catches per message): a handler that
        # fails answers that one message with an error; the link stays up. Not acknowledged,
        # so the cabinet resends it.
        try:
            if isinstance(received, ProtocolError):
                for reply in await handle_malformed(platform.sessions, cabinet_id, received):
                    await socket.send_bytes(encode(reply))
            else:
                await _handle(socket, platform, cabinet_id, received, publish)
        except WebSocketDisconnect:
            raise
        except Exception:
            log.exception("cabinet %s: handling a message failed", cabinet_id)
            ref_id = received.ref_id if isinstance(received, ProtocolError) else received.id
            failed = ErrorReply(
                code="internal_error",
                detail="the server could not handle this message; it will be retried",
                ref_id=ref_id,
            )
            await socket.send_bytes(encode(failed))


async def _handle(
    socket: WebSocket[Any, Any, Any],
    platform: Platform,
    cabinet_id: str,
    message: CabinetMessage,
    publish: Callable[[bytes], None],
) -> None:
    if isinstance(message, Ack):
        await to_thread.run_sync(_acknowledge, platform, cabinet_id, message.ack_id)
        return
    if isinstance(message, Telemetry):
        await to_thread.run_sync(_telemetry, platform, cabinet_id, message)
    elif isinstance(message, (Hello, AuthResponse)):
        await socket.send_bytes(
            encode(ErrorReply(code="already_authenticated", detail="", ref_id=message.id))
        )
        return
    else:
        for reply in await handle_cabinet_message(platform, cabinet_id, message, publish):
            await socket.send_bytes(encode(reply))
    # Acknowledged only once handled and committed: the cabinet resends until then.
    await socket.send_bytes(encode(Ack(ack_id=message.id)))


def _acknowledge(platform: Platform, cabinet_id: str, message_id: str) -> None:
    with platform.sessions.begin() as session:
        link.acknowledge(session, cabinet_id, message_id)


def _telemetry(platform: Platform, cabinet_id: str, report: Telemetry) -> None:
    with platform.sessions.begin() as session:
        link.record_telemetry(session, cabinet_id, report)


async def _close_quietly(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    with contextlib.suppress(Exception):  # the peer may already be gone
        await socket.close(code, reason)

"""The cabinet WebSocket gateway: authenticate the device, then move bytes.

A connection starts with ``hello`` → ``challenge`` → ``auth_response`` signed by the
device key registered at provisioning. After that the cabinet id is fixed for the
connection: every frame is handed to the inbox as that cabinet's, so a cabinet cannot
act for another one. What the server sends travels through the cabinet's channel
(``ChannelsCabinetLink``), whichever node sends it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, cast

from anyio import to_thread
from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect

from api.cabinets.channels_link import cabinet_channel
from cabinet_runtime.protocol import (
    AuthFailed,
    AuthOk,
    AuthResponse,
    Challenge,
    Hello,
    ProtocolError,
    decode_from_cabinet,
    encode,
)
from facepay.cabinets import link
from facepay.cabinets.inbox import CabinetInbox
from facepay.cabinets.provisioning import GATEWAY_PATH

log = logging.getLogger(__name__)

AUTH_FAILED_CLOSE_CODE = 4401
PROTOCOL_ERROR_CLOSE_CODE = 4400


async def _frame(socket: WebSocket[Any, Any, Any]) -> bytes | str:
    event = await socket.receive()
    if event["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(detail="disconnected", code=event.get("code", 1000))
    return cast("bytes | str", event.get("bytes") or event.get("text") or b"")


async def _authenticate(socket: WebSocket[Any, Any, Any], inbox: CabinetInbox) -> str | None:
    hello = decode_from_cabinet(await _frame(socket))
    if not isinstance(hello, Hello):
        raise ProtocolError(f"expected hello, got {type(hello).__name__}")
    nonce = link.new_challenge()
    await socket.send_bytes(encode(Challenge(nonce=nonce)))
    answer = decode_from_cabinet(await _frame(socket))
    if not isinstance(answer, AuthResponse) or answer.cabinet_id != hello.cabinet_id:
        raise ProtocolError("expected auth_response for the cabinet that said hello")
    try:
        await to_thread.run_sync(inbox.authenticate, hello.cabinet_id, nonce, answer.signature)
    except link.DeviceAuthError as exc:
        log.warning("cabinet %s failed device authentication", hello.cabinet_id)
        await socket.send_bytes(encode(AuthFailed(reason=str(exc))))
        await socket.close(AUTH_FAILED_CLOSE_CODE, "authentication failed")
        return None
    await socket.send_bytes(encode(AuthOk(cabinet_id=hello.cabinet_id, server_time=time.time())))
    return hello.cabinet_id


@websocket(GATEWAY_PATH)
async def cabinet_gateway(
    socket: WebSocket[Any, Any, Any],
    channels: NamedDependency[ChannelsPlugin],
    inbox: NamedDependency[CabinetInbox],
) -> None:
    await socket.accept()
    try:
        cabinet_id = await _authenticate(socket, inbox)
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
            await to_thread.run_sync(inbox.connected, cabinet_id)
            while True:
                await to_thread.run_sync(inbox.receive, cabinet_id, await _frame(socket))
    except WebSocketDisconnect:
        pass
    finally:
        await to_thread.run_sync(inbox.disconnected, cabinet_id)


async def _close_quietly(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    with contextlib.suppress(Exception):  # the peer may already be gone
        await socket.close(code, reason)

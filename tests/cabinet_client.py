"""A cabinet's side of the gateway for tests: raw frames, no runtime in between."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import ClientConnection, connect

from cabinet_runtime import protocol as p

SignChallenge = Callable[[bytes], bytes]  # the challenge's nonce → the device's signature


def signer(key: Ed25519PrivateKey, cabinet_id: str) -> SignChallenge:
    return lambda nonce: key.sign(p.auth_signing_payload(cabinet_id, nonce))


async def handshake(ws: ClientConnection, cabinet_id: str, sign: SignChallenge) -> p.ServerMessage:
    """hello → challenge → auth_response; the server's answer (auth_ok or auth_failed)."""
    await ws.send(p.encode(p.Hello(cabinet_id=cabinet_id)))
    challenge = p.decode_from_server(await ws.recv())
    assert isinstance(challenge, p.Challenge)
    await ws.send(p.encode(p.AuthResponse(cabinet_id=cabinet_id, signature=sign(challenge.nonce))))
    return p.decode_from_server(await ws.recv())


@contextlib.asynccontextmanager
async def authenticated(
    url: str, cabinet_id: str, sign: SignChallenge, **options: Any
) -> AsyncIterator[ClientConnection]:
    """An authenticated connection to the gateway at ``url``."""
    async with connect(url, **options) as ws:
        assert isinstance(await handshake(ws, cabinet_id, sign), p.AuthOk)
        yield ws


async def until(
    ws: ClientConnection, wanted: Callable[[p.ServerMessage], bool], timeout_s: float = 20.0
) -> p.ServerMessage:
    """The first message from the server that ``wanted`` accepts."""
    async with asyncio.timeout(timeout_s):
        while True:
            message = p.decode_from_server(await ws.recv())
            if wanted(message):
                return message

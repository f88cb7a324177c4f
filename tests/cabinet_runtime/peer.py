"""A minimal protocol peer for tests: the SERVER side of the cabinet protocol.

It is not the production gateway (that lives in ``api/``); it implements just
enough, on a real ``websockets`` server and a real HTTP endpoint, for the
cabinet runtime's tests: provisioning with one-time codes, challenge/response
authentication against registered device keys, acknowledging (or deliberately
not acknowledging) cabinet messages, counting deliveries per message id,
dropping connections on purpose and pushing signed commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from cabinet_runtime import protocol as p
from cabinet_runtime.identity import (
    DeviceIdentity,
    IdentityStore,
    provision,
    raw_public_key,
    verify_ed25519,
)


@dataclass
class Delivery:
    message: p.CabinetMessage
    at: float
    connection: int


@dataclass
class PeerBehaviour:
    ack: bool = True
    clock_offset_s: float = 0.0  # the server's clock minus the real one
    ack_delay_s: float = 0.0  # keeps messages in flight (sent, not yet acknowledged)
    drop_connections_before_auth: int = 0  # close the first N connections at once
    refuse: bool = False  # close every new connection at once (the server is "down")
    drop_after_messages: int | None = None  # close a connection after N messages
    # what the server answers to a message (an identify_result and an unlock, say)
    on_message: Callable[[p.CabinetMessage], Sequence[p.Message]] | None = None


class ProtocolPeer:
    def __init__(self, behaviour: PeerBehaviour | None = None) -> None:
        self.behaviour = behaviour or PeerBehaviour()
        self.server_key = Ed25519PrivateKey.generate()
        self.devices: dict[str, Ed25519PublicKey] = {}
        self.codes: dict[str, str] = {}  # one-time code -> cabinet id
        self.deliveries: list[Delivery] = []
        self.acked: set[str] = set()
        self._seen: set[str] = set()
        self.connection_times: list[float] = []
        self.auth_failures: list[str] = []
        self._ws_server: Server | None = None
        self._http: ThreadingHTTPServer | None = None
        self._current: ServerConnection | None = None
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.ws_url = ""
        self.http_url = ""

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        self._ws_server = await serve(self._handle, "127.0.0.1", port)
        ws_port = self._ws_server.sockets[0].getsockname()[1] if port == 0 else port
        self.ws_url = f"ws://127.0.0.1:{ws_port}/cabinet"
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._http_handler())
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.http_url = f"http://127.0.0.1:{self._http.server_address[1]}"

    async def stop_websocket(self) -> None:
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()
            self._ws_server = None

    async def stop(self) -> None:
        await self.stop_websocket()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    # --- devices ------------------------------------------------------------------------------

    def issue_code(self, cabinet_id: str) -> str:
        code = secrets.token_urlsafe(9)
        self.codes[code] = cabinet_id
        return code

    def register(self, cabinet_id: str, public_key: bytes) -> None:
        self.devices[cabinet_id] = Ed25519PublicKey.from_public_bytes(public_key)

    @property
    def server_public_key(self) -> bytes:
        return raw_public_key(self.server_key.public_key())

    # --- what a server would send -------------------------------------------------------------

    def sign(self, command: p.AnyCommand, key: Ed25519PrivateKey | None = None) -> p.SignedCommand:
        body = p.canonical_command_bytes(command)
        signature = (key or self.server_key).sign(p.command_signing_payload(body))
        return p.SignedCommand(body=body, signature=signature)

    def unlock(self, cabinet_id: str, session_id: str, ttl_s: float = 30.0) -> p.UnlockCommand:
        now = time.time()
        return p.UnlockCommand(
            cabinet_id=cabinet_id,
            nonce=secrets.token_hex(16),
            issued_at=now,
            expires_at=now + ttl_s,
            session_id=session_id,
        )

    async def send(self, message: p.Message) -> None:
        if self._current is None:
            raise RuntimeError("no cabinet connected")
        await self._current.send(p.encode(message))

    async def drop(self) -> None:
        """Close the current connection as a crashing server would."""
        if self._current is not None:
            self._current.transport.abort()

    # --- observation --------------------------------------------------------------------------

    def delivery_counts(self) -> Counter[str]:
        return Counter(d.message.id for d in self.deliveries)

    def messages_of(self, kind: type[Any]) -> list[Any]:
        """Messages of a kind, each once: like the server, the peer dedupes by message id."""
        seen: set[str] = set()
        found = []
        for delivery in self.deliveries:
            if delivery.message.id not in seen:
                seen.add(delivery.message.id)
                if isinstance(delivery.message, kind):
                    found.append(delivery.message)
        return found

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("peer condition not reached")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))

    # --- the WebSocket side -------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        self.connection_times.append(time.monotonic())
        number = len(self.connection_times)
        self._changed.set()
        if number <= self.behaviour.drop_connections_before_auth or self.behaviour.refuse:
            ws.transport.abort()
            return
        try:
            if not await self._authenticate(ws):
                return
            self._current = ws
            self._changed.set()
            count = 0
            async for raw in ws:
                message = p.decode_from_cabinet(raw)
                duplicate = message.id in self._seen
                self._seen.add(message.id)
                self.deliveries.append(Delivery(message, time.monotonic(), number))
                count += 1
                if isinstance(message, p.Ack):
                    self.acked.add(message.ack_id)
                elif self.behaviour.ack:
                    await self._ack(ws, message.id)
                if self.behaviour.on_message is not None and not duplicate:
                    for reply in self.behaviour.on_message(message):
                        await ws.send(p.encode(reply))
                self._changed.set()
                limit = self.behaviour.drop_after_messages
                if limit is not None and count >= limit:
                    ws.transport.abort()
                    return
        except ConnectionClosed:
            pass
        finally:
            if self._current is ws:
                self._current = None
            self._changed.set()

    async def _ack(self, ws: ServerConnection, message_id: str) -> None:
        async def later() -> None:
            await asyncio.sleep(self.behaviour.ack_delay_s)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(p.encode(p.Ack(ack_id=message_id)))

        if self.behaviour.ack_delay_s <= 0:
            await ws.send(p.encode(p.Ack(ack_id=message_id)))
        else:
            task = asyncio.create_task(later())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _authenticate(self, ws: ServerConnection) -> bool:
        hello = p.decode_from_cabinet(await ws.recv())
        if not isinstance(hello, p.Hello):
            await ws.send(p.encode(p.AuthFailed(reason="expected hello")))
            return False
        nonce = secrets.token_bytes(32)
        await ws.send(p.encode(p.Challenge(nonce=nonce)))
        answer = p.decode_from_cabinet(await ws.recv())
        key = self.devices.get(hello.cabinet_id)
        if (
            not isinstance(answer, p.AuthResponse)
            or key is None
            or answer.cabinet_id != hello.cabinet_id
            or not verify_ed25519(
                key, answer.signature, p.auth_signing_payload(hello.cabinet_id, nonce)
            )
        ):
            self.auth_failures.append(hello.cabinet_id)
            await ws.send(p.encode(p.AuthFailed(reason="unknown device or bad signature")))
            return False
        server_time = time.time() + self.behaviour.clock_offset_s
        await ws.send(p.encode(p.AuthOk(cabinet_id=hello.cabinet_id, server_time=server_time)))
        return True

    # --- the HTTP provisioning side -----------------------------------------------------------

    def _http_handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != p.PROVISION_PATH:
                    self._reply(404, b'{"detail":"not found"}')
                    return
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                try:
                    request = msgspec.json.decode(body, type=p.ProvisionRequest)
                except (msgspec.DecodeError, ValueError) as exc:
                    self._reply(400, msgspec.json.encode({"detail": str(exc)}))
                    return
                cabinet_id = peer.codes.pop(request.code, None)
                if cabinet_id is None:
                    self._reply(403, b'{"detail":"unknown or used code"}')
                    return
                peer.register(cabinet_id, request.public_key)
                response = p.ProvisionResponse(
                    cabinet_id=cabinet_id,
                    server_public_key=peer.server_public_key,
                    gateway_url=peer.ws_url,
                )
                self._reply(200, msgspec.json.encode(response))

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def provision_device(peer: ProtocolPeer, directory: Path, cabinet_id: str) -> DeviceIdentity:
    """Provision a device against the peer the way ``cabinet-runtime provision`` does."""
    return provision(IdentityStore(directory), peer.http_url, peer.issue_code(cabinet_id))

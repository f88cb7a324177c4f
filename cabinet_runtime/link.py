"""The cabinet's authenticated WebSocket link to the server.

Connects, proves the device identity by signing the server's challenge, then
drains the durable outbox (resending anything not acknowledged) while handing
every server message to the runtime. On any failure it reconnects after an
exponential backoff with jitter, so a fleet of cabinets does not reconnect in
lock step after a server restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from cabinet_runtime.identity import DeviceIdentity
from cabinet_runtime.outbox import Outbox
from cabinet_runtime.protocol import (
    Ack,
    AuthFailed,
    AuthOk,
    AuthResponse,
    Challenge,
    Hello,
    Message,
    ProtocolError,
    ServerMessage,
    decode_from_server,
    encode,
    error_reply,
)

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Message)
SEND_BATCH = 100  # outbox rows read per query; a backlog is drained batch after batch


class AuthenticationError(Exception):
    """The server did not accept the device's identity (or never asked for it)."""


class MessageHandler(Protocol):
    async def __call__(self, message: ServerMessage) -> Message | None:
        """Handle one server message; an optional reply is sent right after its ack."""
        ...


@dataclass
class Backoff:
    """Exponential backoff with jitter: ``ceiling = min(max, initial * factor**n)``,
    delay uniformly drawn from ``[ceiling * (1 - jitter), ceiling]``."""

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.max_s and self.factor >= 1 and 0 <= self.jitter <= 1):
            raise ValueError("backoff needs 0 < initial <= max, factor >= 1, 0 <= jitter <= 1")

    def ceiling(self, attempt: int) -> float:
        return min(self.max_s, self.initial_s * self.factor**attempt)

    def next_delay(self) -> float:
        ceiling = self.ceiling(self.attempt)
        self.attempt += 1
        return ceiling * (1 - self.jitter) + self.rng.uniform(0, ceiling * self.jitter)

    def reset(self) -> None:
        self.attempt = 0


_LINK_ERRORS = (
    OSError,
    TimeoutError,
    WebSocketException,
    InvalidHandshake,
    AuthenticationError,
    ProtocolError,
)


async def _wait_event(event: asyncio.Event, timeout_s: float) -> None:
    # asyncio.timeout rather than wait_for: on 3.11 wait_for can swallow a
    # cancellation that races with the event being set.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()


class Link:
    def __init__(
        self,
        *,
        identity: DeviceIdentity,
        outbox: Outbox,
        handler: MessageHandler,
        url: str | None = None,
        backoff: Backoff | None = None,
        resend_after_s: float = 10.0,
        auth_timeout_s: float = 10.0,
        firmware: str = "",
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.identity = identity
        self.url = url or identity.gateway_url
        self.outbox = outbox
        self._handler = handler
        self.backoff = backoff or Backoff()
        self._resend_after = resend_after_s
        self._auth_timeout = auth_timeout_s
        self._firmware = firmware
        self._now = wall_clock
        self._up = asyncio.Event()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connect_attempts = 0
        self.delays: list[float] = []  # every backoff delay taken, for status and tests
        self.last_error: str | None = None
        # server clock minus ours, measured at authentication: commands' expiry is server time
        self.server_offset_s = 0.0
        outbox.on_enqueue(self._notify)

    @property
    def up(self) -> bool:
        """Connected and authenticated right now."""
        return self._up.is_set()

    async def wait_up(self, timeout_s: float) -> bool:
        await _wait_event(self._up, timeout_s)
        return self.up

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _notify(self) -> None:
        # Called from whichever thread enqueued; the event belongs to the loop.
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Keep the link up until ``stop()``."""
        self._loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            self.connect_attempts += 1
            try:
                async with connect(self.url, open_timeout=self._auth_timeout, max_size=2**20) as ws:
                    await self._serve(ws)
            except InvalidURI:
                raise
            except _LINK_ERRORS as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("link to %s lost: %s", self.url, self.last_error)
            finally:
                self._up.clear()
            if self._stop.is_set():
                break
            delay = self.backoff.next_delay()
            self.delays.append(delay)
            await _wait_event(self._stop, delay)

    async def _serve(self, ws: ClientConnection) -> None:
        await self._authenticate(ws)
        connected_at = self._now()
        self.backoff.reset()
        self.last_error = None
        self._up.set()
        log.info("link up: %s as %s", self.url, self.identity.cabinet_id)
        tasks = [
            asyncio.create_task(self._send_loop(ws, connected_at)),
            asyncio.create_task(self._receive_loop(ws)),
            asyncio.create_task(self._stop.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if not task.cancelled() and (exc := task.exception()) is not None:
                raise exc

    async def _authenticate(self, ws: ClientConnection) -> None:
        cabinet_id = self.identity.cabinet_id
        await ws.send(encode(Hello(cabinet_id=cabinet_id, firmware=self._firmware)))
        challenge = await self._expect(ws, Challenge)
        signature = self.identity.sign_challenge(challenge.nonce)
        await ws.send(encode(AuthResponse(cabinet_id=cabinet_id, signature=signature)))
        ok = await self._expect(ws, AuthOk)
        self.server_offset_s = ok.server_time - self._now()

    async def _expect(self, ws: ClientConnection, kind: type[T]) -> T:
        async with asyncio.timeout(self._auth_timeout):
            raw = await ws.recv()
        message = decode_from_server(raw)
        if isinstance(message, AuthFailed):
            raise AuthenticationError(f"server refused the device: {message.reason}")
        if not isinstance(message, kind):
            raise AuthenticationError(f"expected {kind.__name__}, got {type(message).__name__}")
        return message

    async def _send_loop(self, ws: ClientConnection, connected_at: float) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            # Anything sent on an earlier connection, or unacknowledged for too long, is due.
            sent_before = max(connected_at, self._now() - self._resend_after)
            while batch := self.outbox.due(sent_before, limit=SEND_BATCH):
                for entry in batch:
                    await ws.send(entry.payload)
                    self.outbox.mark_sent(entry.id)
                if len(batch) < SEND_BATCH:
                    break
            await _wait_event(self._wake, self._resend_after / 2)

    async def _receive_loop(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                message = decode_from_server(raw)
            except ProtocolError as exc:
                log.warning("ignoring a bad frame from the server: %s", exc)
                continue
            if isinstance(message, Ack):
                self.outbox.acknowledge(message.ack_id)
                continue
            try:
                reply = await self._handler(message)
            except Exception as exc:  # a handler bug must not tear the link down
                log.exception("handling %s failed", type(message).__name__)
                reply = error_reply("internal_error", str(exc), ref_id=message.id)
            await ws.send(encode(Ack(ack_id=message.id)))
            if reply is not None:
                await ws.send(encode(reply))

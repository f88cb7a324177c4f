"""The link against a real websockets peer: auth, delivery, acks, reconnect with backoff."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from peer import PeerBehaviour, ProtocolPeer, provision_device

from cabinet_runtime import protocol as p
from cabinet_runtime.identity import DeviceIdentity
from cabinet_runtime.link import Backoff, Link
from cabinet_runtime.outbox import Outbox


def _telemetry(n: int) -> p.Telemetry:
    return p.Telemetry(at=float(n), temperature_c=4.0, door="closed", locked=True, state="idle")


class Received:
    def __init__(self) -> None:
        self.messages: list[p.ServerMessage] = []

    async def __call__(self, message: p.ServerMessage) -> p.Message | None:
        self.messages.append(message)
        return None


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db")
    yield box
    box.close()


@asynccontextmanager
async def running(link: Link) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(link.run())
    try:
        yield task
    finally:
        link.stop()
        await asyncio.wait_for(task, 5)


async def _peer(
    tmp_path: Path, behaviour: PeerBehaviour | None = None
) -> tuple[ProtocolPeer, DeviceIdentity]:
    peer = ProtocolPeer(behaviour)
    await peer.start()
    return peer, provision_device(peer, tmp_path / "identity", "cab-1")


def _fast_backoff(seed: int = 1) -> Backoff:
    return Backoff(initial_s=0.05, max_s=0.4, rng=random.Random(seed))


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    backoff = Backoff(initial_s=1.0, max_s=8.0, jitter=0.5, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # jittered, not lock-step
    backoff.reset()
    assert backoff.next_delay() <= 1.0
    with pytest.raises(ValueError, match="backoff"):
        Backoff(initial_s=0)


async def test_authenticates_and_delivers_the_outbox_until_acknowledged(
    tmp_path: Path, outbox: Outbox
) -> None:
    peer, identity = await _peer(tmp_path)
    ids = [outbox.put(_telemetry(n)) for n in range(5)]
    link = Link(identity=identity, outbox=outbox, handler=Received(), backoff=_fast_backoff())
    async with running(link):
        assert await link.wait_up(5)
        await peer.wait_for(lambda: len(peer.deliveries) >= 5)
        later = outbox.put(_telemetry(99))  # woken sender, no polling delay needed
        await peer.wait_for(lambda: later in peer.delivery_counts())
        await peer.wait_for(lambda: outbox.depth() == 0)
    assert [d.message.id for d in peer.deliveries] == [*ids, later]  # FIFO
    assert set(peer.delivery_counts().values()) == {1}
    await peer.stop()


async def test_server_messages_reach_the_handler_and_are_acknowledged(
    tmp_path: Path, outbox: Outbox
) -> None:
    peer, identity = await _peer(tmp_path)
    received = Received()
    link = Link(identity=identity, outbox=outbox, handler=received, backoff=_fast_backoff())
    async with running(link):
        assert await link.wait_up(5)
        settled = p.SessionSettled(session_id="s", receipt_id="r", amount_minor=5, currency="USD")
        await peer.send(settled)
        await peer.wait_for(lambda: settled.id in peer.acked)
    assert received.messages == [settled]
    await peer.stop()


async def test_reconnects_with_growing_backoff_after_dropped_connections(
    tmp_path: Path, outbox: Outbox
) -> None:
    peer, identity = await _peer(tmp_path, PeerBehaviour(drop_connections_before_auth=4))
    outbox.put(_telemetry(1))
    link = Link(identity=identity, outbox=outbox, handler=Received(), backoff=_fast_backoff())
    async with running(link):
        assert await link.wait_up(10)
        await peer.wait_for(lambda: outbox.depth() == 0)
    assert len(peer.connection_times) == 5
    assert len(link.delays) == 4
    for attempt, delay in enumerate(link.delays):
        ceiling = link.backoff.ceiling(attempt)
        assert ceiling / 2 <= delay <= ceiling
    gaps = [b - a for a, b in zip(peer.connection_times, peer.connection_times[1:], strict=False)]
    for gap, delay in zip(gaps, link.delays, strict=True):
        assert gap >= delay * 0.9  # the client really waited before reconnecting
    assert link.backoff.attempt == 0  # reset once authenticated
    await peer.stop()


async def test_a_drop_mid_stream_resends_what_was_not_acknowledged(
    tmp_path: Path, outbox: Outbox
) -> None:
    peer, identity = await _peer(tmp_path, PeerBehaviour(drop_after_messages=3))
    ids = [outbox.put(_telemetry(n)) for n in range(10)]
    link = Link(identity=identity, outbox=outbox, handler=Received(), backoff=_fast_backoff())
    async with running(link):
        await peer.wait_for(lambda: outbox.depth() == 0, timeout_s=20)
    assert set(peer.delivery_counts()) == set(ids)
    assert len(peer.connection_times) >= 4
    await peer.stop()


async def test_unacknowledged_messages_are_resent_after_the_resend_interval(
    tmp_path: Path, outbox: Outbox
) -> None:
    peer, identity = await _peer(tmp_path, PeerBehaviour(ack=False))
    message_id = outbox.put(_telemetry(1))
    link = Link(
        identity=identity,
        outbox=outbox,
        handler=Received(),
        backoff=_fast_backoff(),
        resend_after_s=0.2,
    )
    async with running(link):
        await peer.wait_for(lambda: peer.delivery_counts()[message_id] >= 3)
        peer.behaviour.ack = True
        await peer.wait_for(lambda: outbox.depth() == 0)
        count = peer.delivery_counts()[message_id]
        await asyncio.sleep(0.5)  # after the ack, never again
        assert peer.delivery_counts()[message_id] == count
    await peer.stop()


async def test_a_server_that_comes_up_late_is_reached(tmp_path: Path, outbox: Outbox) -> None:
    peer, identity = await _peer(tmp_path)
    port = int(peer.ws_url.rsplit(":", 1)[1].split("/")[0])
    await peer.stop_websocket()
    link = Link(identity=identity, outbox=outbox, handler=Received(), backoff=_fast_backoff())
    async with running(link):
        await asyncio.sleep(0.5)
        assert not link.up
        assert link.connect_attempts >= 2
        assert link.last_error is not None
        await peer.start(port=port)
        assert await link.wait_up(5)
    await peer.stop()


async def test_an_unregistered_device_is_refused_and_keeps_backing_off(
    tmp_path: Path, outbox: Outbox
) -> None:
    peer, identity = await _peer(tmp_path)
    del peer.devices["cab-1"]
    outbox.put(_telemetry(1))
    link = Link(identity=identity, outbox=outbox, handler=Received(), backoff=_fast_backoff())
    async with running(link):
        await peer.wait_for(lambda: len(peer.auth_failures) >= 2)
        assert not link.up
    assert "refused" in (link.last_error or "")
    assert peer.deliveries == []
    assert outbox.depth() == 1
    await peer.stop()


async def test_the_server_clock_offset_is_measured_at_authentication(
    tmp_path: Path, outbox: Outbox
) -> None:
    peer, identity = await _peer(tmp_path, PeerBehaviour(clock_offset_s=-120.0))
    link = Link(identity=identity, outbox=outbox, handler=Received(), backoff=_fast_backoff())
    async with running(link):
        assert await link.wait_up(5)
        assert abs(link.server_offset_s + 120.0) < 2.0
    await peer.stop()


async def test_a_failing_handler_answers_an_error_and_keeps_the_link(
    tmp_path: Path, outbox: Outbox
) -> None:
    peer, identity = await _peer(tmp_path)

    async def broken(message: p.ServerMessage) -> p.Message | None:
        raise RuntimeError("bug")

    link = Link(identity=identity, outbox=outbox, handler=broken, backoff=_fast_backoff())
    async with running(link):
        assert await link.wait_up(5)
        settled = p.SessionSettled(session_id="s", receipt_id="r", amount_minor=5, currency="USD")
        await peer.send(settled)
        await peer.wait_for(lambda: bool(peer.messages_of(p.ErrorReply)))
        assert settled.id in peer.acked
        assert link.up
        assert len(peer.connection_times) == 1
    [error] = peer.messages_of(p.ErrorReply)
    assert error.code == "internal_error"
    assert error.ref_id == settled.id
    await peer.stop()


async def test_a_backlog_larger_than_one_batch_drains_without_waiting(
    tmp_path: Path, outbox: Outbox
) -> None:
    peer, identity = await _peer(tmp_path)
    ids = [outbox.put(_telemetry(n)) for n in range(250)]  # a long time offline
    link = Link(
        identity=identity,
        outbox=outbox,
        handler=Received(),
        backoff=_fast_backoff(),
        resend_after_s=60.0,  # no resend timer can help: batches must follow each other
    )
    async with running(link):
        await peer.wait_for(lambda: outbox.depth() == 0, timeout_s=10)
    assert [d.message.id for d in peer.deliveries] == ids
    await peer.stop()

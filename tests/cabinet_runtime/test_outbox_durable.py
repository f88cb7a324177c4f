"""The durable outbox: unit behaviour, and exactly-once delivery across a kill -9 and restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from peer import PeerBehaviour, ProtocolPeer, provision_device

from cabinet_runtime import protocol as p
from cabinet_runtime.outbox import Outbox

REPO = Path(__file__).resolve().parents[2]


def _ack(n: int) -> p.ErrorReply:
    return p.ErrorReply(code="test", detail=str(n))


def test_messages_survive_reopen_in_fifo_order_until_acknowledged(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    ids = [box.put(_ack(n)) for n in range(4)]
    box.close()
    box = Outbox(tmp_path / "o.db")
    assert [e.id for e in box.due(sent_before=0.0)] == ids
    assert box.depth() == 4
    assert box.acknowledge(ids[1])
    assert not box.acknowledge(ids[1])  # a second ack changes nothing
    assert not box.acknowledge("unknown")
    assert [e.id for e in box.due(sent_before=0.0)] == [ids[0], ids[2], ids[3]]
    assert box.is_acknowledged(ids[1])
    box.close()
    box = Outbox(tmp_path / "o.db")
    assert box.depth() == 3
    assert box.total() == 4


def test_sent_messages_are_due_again_only_after_the_resend_point(tmp_path: Path) -> None:
    now = [1000.0]
    box = Outbox(tmp_path / "o.db", wall_clock=lambda: now[0])
    message_id = box.put(_ack(1))
    box.mark_sent(message_id)
    assert box.due(sent_before=1000.0) == []
    [entry] = box.due(sent_before=1000.5)
    assert entry.attempts == 1
    box.acknowledge(message_id)
    box.mark_sent(message_id)  # a late send report cannot revive an acknowledged message
    assert box.due(sent_before=10_000.0) == []


def test_putting_the_same_message_twice_stores_it_once(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    message = _ack(1)
    box.put(message)
    box.put(message)
    assert box.total() == 1


def test_acknowledged_messages_can_be_pruned(tmp_path: Path) -> None:
    now = [0.0]
    box = Outbox(tmp_path / "o.db", wall_clock=lambda: now[0])
    done, pending = box.put(_ack(1)), box.put(_ack(2))
    box.acknowledge(done)
    now[0] = 100.0
    assert box.prune_acknowledged(older_than=50.0) == 1
    assert box.total() == 1
    assert [e.id for e in box.due(sent_before=1e9)] == [pending]


# A real runtime process: produces telemetry into the outbox while its link drains it.
CHILD = """
import asyncio, sys
from pathlib import Path
from cabinet_runtime import protocol as p
from cabinet_runtime.identity import IdentityStore
from cabinet_runtime.link import Backoff, Link
from cabinet_runtime.outbox import Outbox

state, total = Path(sys.argv[1]), int(sys.argv[2])

async def main() -> None:
    outbox = Outbox(state / "outbox.db")
    async def handler(message):
        return None
    link = Link(identity=IdentityStore(state).load(), outbox=outbox, handler=handler,
                backoff=Backoff(initial_s=0.05, max_s=0.2), resend_after_s=1.0)
    task = asyncio.create_task(link.run())
    while outbox.total() < total:
        n = outbox.total()
        outbox.put(p.Telemetry(at=float(n), temperature_c=4.0, door="closed", locked=True,
                               state="idle"))
        await asyncio.sleep(0.03)
    while outbox.depth():
        await asyncio.sleep(0.05)
    link.stop()
    await task

asyncio.run(main())
"""


def _spawn(state: Path, total: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(state), str(total)], env=env)


def _rows(state: Path, where: str) -> set[str]:
    with sqlite3.connect(state / "outbox.db") as conn:
        return {row[0] for row in conn.execute(f"SELECT id FROM outbox WHERE {where}")}


@pytest.mark.slow
async def test_every_message_is_delivered_and_acknowledged_across_a_kill_and_restart(
    tmp_path: Path,
) -> None:
    total = 100
    peer = ProtocolPeer(PeerBehaviour(ack_delay_s=0.15))  # keep messages in flight
    await peer.start()
    state = tmp_path / "cabinet"
    provision_device(peer, state, "cab-1")

    child = _spawn(state, total)
    await peer.wait_for(lambda: len(peer.deliveries) >= 30, timeout_s=60)
    child.send_signal(signal.SIGKILL)
    await asyncio.to_thread(child.wait)
    kill_point = len(peer.deliveries)
    acked_before_kill = _rows(state, "acked_at IS NOT NULL")
    in_flight = _rows(state, "acked_at IS NULL AND last_sent_at IS NOT NULL")
    assert acked_before_kill, "some messages were acknowledged before the kill"
    assert in_flight, "the kill hit messages in flight"
    assert 0 < len(_rows(state, "1")) < total, "killed while still producing"

    restarted = _spawn(state, total)
    assert await asyncio.to_thread(restarted.wait, 60) == 0

    everything = _rows(state, "1")
    assert len(everything) == total
    assert _rows(state, "acked_at IS NULL") == set()  # none lost, all acknowledged
    delivered = peer.delivery_counts()
    assert set(delivered) == everything  # every message reached the server
    resent_after_restart = {d.message.id for d in peer.deliveries[kill_point:]}
    assert not resent_after_restart & acked_before_kill  # after an ack, never sent again
    duplicates = {message_id for message_id, n in delivered.items() if n > 1}
    # only what was unacknowledged at the kill (in flight, or sent just before the
    # kill could record it) may reach the server twice; the server dedupes by id
    assert duplicates <= everything - acked_before_kill
    await peer.stop()

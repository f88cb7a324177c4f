"""The whole runtime against the protocol peer: real websockets, real signatures,
real SQLite, simulated hardware advanced in real time, real pick recognition."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from peer import ProtocolPeer, provision_device
from test_session_machine import PLANOGRAM, Rig, make_rig

from cabinet_runtime import protocol as p
from cabinet_runtime.config import load_config
from cabinet_runtime.identification import encode_qr
from cabinet_runtime.runtime import CabinetRuntime
from cabinet_runtime.session import BASKET_IN_REVIEW
from cabinet_runtime.session_model import SessionState

CABINET_ID = "cab-rt-1"
TOKEN = "FPQ1.qr-token-for-tests"


def _toml(state_dir: Path) -> str:
    lines = [
        "[cabinet]",
        f'state_dir = "{state_dir}"',
        "[link]",
        "backoff_initial_s = 0.05",
        "backoff_max_s = 0.3",
        "resend_after_s = 3.0",
        "[session]",
        "tick_s = 0.05",
        "unlock_s = 20.0",
        "settle_s = 3.0",
        "[telemetry]",
        "interval_s = 1.0",
        "[identification]",
        "faces = false",
        "interval_s = 0.05",
        "cooldown_s = 0.5",
        "[hardware]",
        f'currency = "{PLANOGRAM.currency}"',
    ]
    for product in PLANOGRAM.products:
        lines += [
            "[[hardware.products]]",
            f'sku = "{product.sku}"',
            f'name = "{product.name}"',
            f"unit_weight_g = {product.unit_weight_g}",
            f"weight_tolerance_g = {product.weight_tolerance_g}",
            f"price = {product.price}",
        ]
    for shelf in PLANOGRAM.shelves:
        lanes = ", ".join(
            f'{{ id = "{ln.id}", sku = "{ln.sku}", count = {ln.count} }}' for ln in shelf.lanes
        )
        lines += ["[[hardware.shelves]]", f'id = "{shelf.id}"', f"lanes = [{lanes}]"]
    return "\n".join(lines) + "\n"


@dataclass
class Cabinet:
    runtime: CabinetRuntime
    rig: Rig
    peer: ProtocolPeer

    async def do(self, fn: Callable[..., object], *args: object) -> object:
        """Act on the simulated world from the runtime's hardware thread."""
        return await self.runtime.call(fn, *args)

    async def wait_state(self, state: SessionState, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.runtime.machine.state is not state:
            assert time.monotonic() < deadline, f"stuck in {self.runtime.machine.state}"
            await asyncio.sleep(0.05)

    async def until(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, "condition not reached"
            await asyncio.sleep(0.05)

    async def show_qr(self, token: str = TOKEN) -> None:
        await self.do(self.rig.front.play, [encode_qr(token)])

    async def hide_qr(self) -> None:
        await self.do(self.rig.front.play, [])


def _approve_and_unlock(peer: ProtocolPeer) -> Callable[[p.CabinetMessage], list[p.Message]]:
    def answer(message: p.CabinetMessage) -> list[p.Message]:
        if isinstance(message, p.Identify) and message.qr_token == TOKEN:
            return [
                p.IdentifyResult(session_id=message.session_id, decision="approve"),
                peer.sign(peer.unlock(CABINET_ID, message.session_id)),
            ]
        if isinstance(message, p.SessionClosed):
            amount = message.totals.amount_minor or 0
            return [
                p.SessionSettled(
                    session_id=message.session_id,
                    receipt_id="rcpt-1",
                    amount_minor=amount,
                    currency=message.totals.currency or "USD",
                )
            ]
        return []

    return answer


@pytest.fixture
async def cabinet(tmp_path: Path) -> AsyncIterator[Cabinet]:
    peer = ProtocolPeer()
    await peer.start()
    state = tmp_path / "state"
    provision_device(peer, state, CABINET_ID)
    config_path = tmp_path / "cabinet.toml"
    config_path.write_text(_toml(state))
    rig = make_rig(tmp_path)
    rig.clock.advance(11)  # the scales have an idle reference before the first session
    runtime = CabinetRuntime(load_config(config_path), hardware=rig.hardware)
    task = asyncio.create_task(runtime.run())
    assert await runtime.link.wait_up(10)
    yield Cabinet(runtime, rig, peer)
    runtime.stop()
    await asyncio.wait_for(task, 20)
    await peer.stop()


def _errors(peer: ProtocolPeer) -> list[str]:
    return [m.code for m in peer.messages_of(p.ErrorReply)]


async def test_a_qr_purchase_end_to_end(cabinet: Cabinet) -> None:
    peer, world = cabinet.peer, cabinet.rig.world
    peer.behaviour.on_message = _approve_and_unlock(peer)
    await cabinet.show_qr()
    await cabinet.wait_state(SessionState.UNLOCKED)
    await cabinet.hide_qr()
    await cabinet.until(lambda: world.lock.unlock_count == 1)  # state is saved before the bolt
    assert await cabinet.do(world.door.open)
    await asyncio.sleep(0.3)
    await cabinet.do(world.take, "A1", 2)
    await asyncio.sleep(1.5)
    await cabinet.do(world.door.close)
    await peer.wait_for(lambda: bool(peer.messages_of(p.SessionClosed)), timeout_s=30)
    [closed] = peer.messages_of(p.SessionClosed)
    assert {(line.lane, line.sku): line.qty for line in closed.lines} == {("A1", "cola"): 2}
    assert closed.totals.amount_minor == 300
    await cabinet.wait_state(SessionState.IDLE)
    assert [e.event for e in peer.messages_of(p.DoorEvent)] == ["opened", "closed"]
    # the stock change is reported too (telemetry on change, queued after the close)
    await peer.wait_for(
        lambda: any(
            {s.lane: s.count for s in t.stock}.get("A1") == 3 for t in peer.messages_of(p.Telemetry)
        )
    )
    await peer.wait_for(lambda: cabinet.runtime.outbox.depth() == 0)
    await cabinet.show_qr()  # the same, used token again: ignored
    await asyncio.sleep(1.5)
    assert len(peer.messages_of(p.Identify)) == 1


async def test_a_basket_the_server_refuses_ends_the_session_with_a_review_notice(
    cabinet: Cabinet,
) -> None:
    peer, world = cabinet.peer, cabinet.rig.world
    approve = _approve_and_unlock(peer)

    def refuse_the_basket(message: p.CabinetMessage) -> list[p.Message]:
        if isinstance(message, p.SessionClosed):
            return [p.ErrorReply(code="basket_rejected", detail="above stock", ref_id=message.id)]
        return approve(message)

    peer.behaviour.on_message = refuse_the_basket
    await cabinet.show_qr()
    await cabinet.wait_state(SessionState.UNLOCKED)
    await cabinet.hide_qr()
    await cabinet.until(lambda: world.lock.unlock_count == 1)
    assert await cabinet.do(world.door.open)
    await asyncio.sleep(0.3)
    await cabinet.do(world.take, "A1", 1)
    await asyncio.sleep(1.5)
    await cabinet.do(world.door.close)
    await cabinet.wait_state(SessionState.IDLE)
    assert cabinet.rig.display.messages[-1] == BASKET_IN_REVIEW


async def test_forged_expired_wrong_cabinet_and_replayed_commands_do_not_unlock(
    cabinet: Cabinet,
) -> None:
    peer, lock = cabinet.peer, cabinet.rig.world.lock
    sessions: list[str] = []

    def approve_only(message: p.CabinetMessage) -> list[p.Message]:
        if isinstance(message, p.Identify):
            sessions.append(message.session_id)
            return [p.IdentifyResult(session_id=message.session_id, decision="approve")]
        return []

    peer.behaviour.on_message = approve_only
    await cabinet.show_qr()
    await peer.wait_for(lambda: bool(sessions))
    await cabinet.hide_qr()
    session_id = sessions[0]
    now = time.time()
    valid = peer.unlock(CABINET_ID, session_id)
    attacks = {
        "command_bad_signature": peer.sign(valid, key=Ed25519PrivateKey.generate()),
        "command_expired": peer.sign(
            p.UnlockCommand(
                cabinet_id=CABINET_ID,
                nonce=secrets.token_hex(16),
                issued_at=now - 300,
                expires_at=now - 240,
                session_id=session_id,
            )
        ),
        "command_wrong_cabinet": peer.sign(peer.unlock("cab-someone-else", session_id)),
    }
    for signed in attacks.values():
        await peer.send(signed)
    await peer.wait_for(lambda: len(_errors(peer)) == 3)
    assert sorted(_errors(peer)) == sorted(attacks)
    assert lock.unlock_count == 0  # the lock driver recorded no unlock
    assert lock.is_locked
    assert cabinet.runtime.machine.state is SessionState.IDENTIFYING

    genuine = peer.sign(valid)
    await peer.send(genuine)
    await cabinet.wait_state(SessionState.UNLOCKED)
    await cabinet.until(lambda: lock.unlock_count == 1)  # the same path unlocks when genuine
    await peer.send(p.SignedCommand(body=genuine.body, signature=genuine.signature))
    await peer.wait_for(lambda: "command_replayed" in _errors(peer))
    assert lock.unlock_count == 1


async def test_link_lost_mid_session_the_session_completes_and_is_delivered_later(
    cabinet: Cabinet,
) -> None:
    peer, world = cabinet.peer, cabinet.rig.world
    peer.behaviour.on_message = _approve_and_unlock(peer)
    await cabinet.show_qr()
    await cabinet.wait_state(SessionState.UNLOCKED)
    await cabinet.hide_qr()
    peer.behaviour.refuse = True  # the server goes away; reconnects are turned down
    await peer.drop()
    assert await cabinet.do(world.door.open)
    await asyncio.sleep(0.3)
    await cabinet.do(world.take, "B1", 1)
    await asyncio.sleep(1.5)
    await cabinet.do(world.door.close)
    await cabinet.wait_state(SessionState.SETTLING, timeout_s=30)
    assert not cabinet.runtime.link.up
    assert cabinet.runtime.outbox.depth() > 0
    # no new session while the link is down, even with a QR code in front of the camera
    await cabinet.wait_state(SessionState.IDLE, timeout_s=10)
    await cabinet.show_qr("FPQ1.second-customer")
    await asyncio.sleep(1.5)  # well past the cool-down
    assert cabinet.runtime.machine.state is SessionState.IDLE
    queued = [p.decode_from_cabinet(e.payload) for e in cabinet.runtime.outbox.due(1e18)]
    assert not [m for m in queued if isinstance(m, p.Identify)]
    peer.behaviour.refuse = False
    await peer.wait_for(lambda: bool(peer.messages_of(p.SessionClosed)), timeout_s=20)
    [closed] = peer.messages_of(p.SessionClosed)
    assert {line.sku: line.qty for line in closed.lines} == {"bar": 1}
    # with the link back, the waiting customer is identified
    await peer.wait_for(
        lambda: any(m.qr_token == "FPQ1.second-customer" for m in peer.messages_of(p.Identify))
    )


async def test_forced_door_is_reported_and_a_signed_clear_releases_the_lockout(
    cabinet: Cabinet,
) -> None:
    peer, world = cabinet.peer, cabinet.rig.world
    assert await cabinet.do(world.door.open, True)  # forced while locked
    await cabinet.wait_state(SessionState.MAINTENANCE)
    await peer.wait_for(lambda: "forced" in [e.event for e in peer.messages_of(p.DoorEvent)])
    await cabinet.do(world.door.close)
    now = time.time()
    clear = p.LockoutCommand(
        cabinet_id=CABINET_ID,
        nonce=secrets.token_hex(16),
        issued_at=now,
        expires_at=now + 30,
        reason="inspected",
        clear=True,
    )
    await peer.send(peer.sign(clear))
    await cabinet.wait_state(SessionState.IDLE)
    await peer.wait_for(
        lambda: any(
            t.state == "idle" and t.lockout_reason is None for t in peer.messages_of(p.Telemetry)
        )
    )


async def test_a_face_in_front_of_the_camera_sends_only_an_embedding(tmp_path: Path) -> None:
    from test_identification_device import _framed, _read

    from biometrics.model_pack import default_pack_dir
    from cabinet_runtime.runtime import build_identifier

    peer = ProtocolPeer()
    await peer.start()
    state = tmp_path / "state"
    provision_device(peer, state, CABINET_ID)
    config_path = tmp_path / "cabinet.toml"
    config_path.write_text(_toml(state).replace("faces = false", "faces = true"))
    config = load_config(config_path)
    rig = make_rig(tmp_path)
    face = _framed(_read(default_pack_dir() / "yaoming.jpg"))
    rig.front.play([face])
    identifier = await asyncio.to_thread(build_identifier, config)
    runtime = CabinetRuntime(config, hardware=rig.hardware, identifier=identifier)
    task = asyncio.create_task(runtime.run())
    try:
        await peer.wait_for(lambda: bool(peer.messages_of(p.Identify)), timeout_s=60)
    finally:
        runtime.stop()
        await asyncio.wait_for(task, 20)
        await peer.stop()
    identify = peer.messages_of(p.Identify)[0]
    assert identify.qr_token is None
    assert identify.embedding is not None
    assert len(identify.embedding) == p.EMBEDDING_BYTES
    assert identify.quality is not None
    assert identify.quality.passed
    assert identify.liveness is not None
    assert identify.liveness.frames == config.identification.frames_required
    assert not identify.liveness.passed  # this cabinet has no depth camera: no liveness claim
    from biometrics.engine import FaceEngine

    assert identify.pack_id == FaceEngine.load().pack_id  # the server never mixes packs


async def test_a_runtime_restarted_mid_session_finishes_it(tmp_path: Path) -> None:
    from cabinet_runtime.cli import read_status

    peer = ProtocolPeer()
    await peer.start()
    peer.behaviour.on_message = _approve_and_unlock(peer)
    state = tmp_path / "state"
    provision_device(peer, state, CABINET_ID)
    config_path = tmp_path / "cabinet.toml"
    config_path.write_text(_toml(state))
    rig = make_rig(tmp_path)
    rig.clock.advance(11)
    first = Cabinet(CabinetRuntime(load_config(config_path), hardware=rig.hardware), rig, peer)
    task = asyncio.create_task(first.runtime.run())
    await first.show_qr()
    await first.wait_state(SessionState.UNLOCKED)
    await first.hide_qr()
    assert await first.do(rig.world.door.open)
    await asyncio.sleep(0.3)
    await first.do(rig.world.take, "A2", 1)
    await first.wait_state(SessionState.DOOR_OPEN)
    await asyncio.sleep(1.5)  # the grab is over before the power goes
    first.runtime.stop()  # the process goes away mid-session
    await asyncio.wait_for(task, 20)
    session_id = peer.messages_of(p.Identify)[0].session_id

    status = read_status(state)
    assert status.session_state == "door_open"
    assert status.session_id == session_id

    await asyncio.sleep(1.0)  # the customer closes the door while the cabinet is down
    rig.world.door.close()
    second = Cabinet(CabinetRuntime(load_config(config_path), hardware=rig.hardware), rig, peer)
    task = asyncio.create_task(second.runtime.run())
    try:
        await peer.wait_for(lambda: bool(peer.messages_of(p.SessionClosed)), timeout_s=30)
    finally:
        second.runtime.stop()
        await asyncio.wait_for(task, 20)
        await peer.stop()
    [closed] = peer.messages_of(p.SessionClosed)
    assert closed.session_id == session_id
    assert closed.recovered
    assert {line.sku: line.qty for line in closed.lines} == {"water": 1}


async def test_step_up_digits_typed_on_the_keypad_reach_the_server(cabinet: Cabinet) -> None:
    peer, rig = cabinet.peer, cabinet.rig

    def step_up_then_unlock(message: p.CabinetMessage) -> list[p.Message]:
        if isinstance(message, p.Identify):
            reason = "Enter the last 4 digits of your phone"
            return [
                p.IdentifyResult(session_id=message.session_id, decision="step_up", reason=reason)
            ]
        if isinstance(message, p.StepUpDigits) and message.digits == "4821":
            return [
                p.IdentifyResult(session_id=message.session_id, decision="approve"),
                peer.sign(peer.unlock(CABINET_ID, message.session_id)),
            ]
        return []

    peer.behaviour.on_message = step_up_then_unlock
    await cabinet.show_qr()
    await cabinet.wait_state(SessionState.STEP_UP)
    await cabinet.hide_qr()
    assert "last 4 digits" in rig.display.messages[-1]
    await cabinet.do(rig.keypad.type, "4821")
    await cabinet.wait_state(SessionState.UNLOCKED)
    [digits] = peer.messages_of(p.StepUpDigits)
    assert digits.session_id == peer.messages_of(p.Identify)[0].session_id


async def test_a_broken_face_model_pack_leaves_qr_purchases_working(tmp_path: Path) -> None:
    peer = ProtocolPeer()
    await peer.start()
    state = tmp_path / "state"
    provision_device(peer, state, CABINET_ID)
    config_path = tmp_path / "cabinet.toml"
    text = _toml(state).replace("faces = false", 'faces = true\nmodel_pack_dir = "no-such-pack"')
    config_path.write_text(text)
    rig = make_rig(tmp_path)
    rig.front.play([encode_qr(TOKEN)])
    runtime = CabinetRuntime(load_config(config_path), hardware=rig.hardware)
    task = asyncio.create_task(runtime.run())
    try:
        await peer.wait_for(lambda: bool(peer.messages_of(p.Identify)), timeout_s=30)
    finally:
        runtime.stop()
        await asyncio.wait_for(task, 20)
        await peer.stop()
    assert peer.messages_of(p.Identify)[0].qr_token == TOKEN

"""Driving visits on the simulated cabinet, and what the cabinet saw of them.

A visit shows a face (or a phone's QR code) to the front camera, types the
step-up digits when asked, opens the door, takes and puts back items and
closes the door, with pauses a person would make. Latencies are measured on
the cabinet: last front-camera frame → lock driven open, and door closed →
receipt on the display.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from cabinet_runtime.hardware.interfaces import BgrFrame
from cabinet_runtime.session_model import SessionState
from facepay_demo.faces import FrontFrame
from facepay_demo.rig import CabinetRig

PICK_PAUSE_S = 1.3  # a hand reaching in and out (a grab rings the shelf for ~1.1 s)
CLOSE_PAUSE_S = 2.0  # after the last item: stepping back, swinging the door shut
DECISION_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 40.0
ATTEMPTS = 3


@dataclass(frozen=True)
class Pick:
    action: Literal["take", "put"]
    lane: str
    qty: int = 1
    sku: str | None = None


@dataclass(frozen=True)
class Visit:
    name: str
    customer: str
    auth: Literal["face", "qr"]
    frames: Sequence[FrontFrame | BgrFrame]
    picks: Sequence[Pick] = ()
    digits: str | None = None


@dataclass
class Observed:
    decision: Literal["approve", "deny"]
    step_up: bool
    message: str
    session_id: str | None
    latency_ms: dict[str, float] = field(default_factory=dict)
    attempts: int = 1


async def _wait(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def _decide(rig: CabinetRig, visit: Visit) -> tuple[bool, bool, str | None]:
    """Show the face until the cabinet decides: (approved, asked for step-up, session id)."""
    unlocks = len(rig.lock.unlocked_at)
    machine = rig.runtime.machine
    await _wait(lambda: rig.state is SessionState.IDLE, DECISION_TIMEOUT_S, "an idle cabinet")
    before = machine.last_session_id
    await rig.show(visit.frames)
    # Watch for the session having started, not for a state: a refusal can take the cabinet
    # back to idle between two looks on a busy machine, and the wait would never end.
    await _wait(lambda: machine.last_session_id != before, DECISION_TIMEOUT_S, "identification")
    session_id = machine.last_session_id
    await rig.show([])
    step_up = False
    deadline = time.monotonic() + DECISION_TIMEOUT_S
    while time.monotonic() < deadline:
        if len(rig.lock.unlocked_at) > unlocks:
            return True, step_up, session_id
        state = rig.state
        if state is SessionState.STEP_UP and not step_up:
            step_up = True
            if visit.digits is None:
                raise RuntimeError(f"{visit.name}: the cabinet asked for digits the visit lacks")
            await rig.do(rig.keypad.type, visit.digits)
        elif state is SessionState.IDLE:
            return False, step_up, session_id
        await asyncio.sleep(0.005)
    raise TimeoutError(f"{visit.name}: no decision")


async def run_visit(rig: CabinetRig, visit: Visit) -> Observed:
    for attempt in range(1, ATTEMPTS + 1):
        shown_before = len(rig.display.shown)
        approved, step_up, session_id = await _decide(rig, visit)
        if approved:
            break
        messages = [m for _, m in rig.display.shown[shown_before:]]
        message = messages[-1] if messages else ""
        # A person reads the screen: asked to try again, they do.
        if "try again" not in message.lower() or attempt == ATTEMPTS:
            return Observed("deny", step_up, message, session_id, attempts=attempt)
    face_to_unlock = (rig.lock.unlocked_at[-1] - rig.scene.last_frame_at) * 1000
    assert await rig.do(rig.world.door.open)
    await asyncio.sleep(PICK_PAUSE_S)
    for pick in visit.picks:
        if pick.action == "take":
            await rig.do(rig.world.take, pick.lane, pick.qty)
        else:
            assert pick.sku is not None
            await rig.do(rig.world.put, pick.lane, pick.sku, pick.qty)
        await asyncio.sleep(PICK_PAUSE_S)
    await asyncio.sleep(CLOSE_PAUSE_S - PICK_PAUSE_S)
    shown_at_close = len(rig.display.shown)
    closed_at = time.perf_counter()
    await rig.do(rig.world.door.close)

    def receipt_shown() -> bool:
        return any(m.startswith("Paid") for _, m in rig.display.shown[shown_at_close:])

    await _wait(receipt_shown, SETTLE_TIMEOUT_S, f"{visit.name}: the receipt")
    shown_at, message = next(
        (t, m) for t, m in rig.display.shown[shown_at_close:] if m.startswith("Paid")
    )
    latency = {"face_to_unlock": face_to_unlock, "close_to_receipt": (shown_at - closed_at) * 1000}
    await _wait(lambda: rig.state is SessionState.IDLE, DECISION_TIMEOUT_S, "idle after the visit")
    return Observed("approve", step_up, message, session_id, latency, attempts=attempt)

"""The session state machine on the simulated cabinet, on a manual clock (no sleeping).

Every transition and timeout, lockout and its clearing, and restart recovery.
Pick recognition is the real one over the simulated shelves.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import msgspec
import pytest

from cabinet_runtime import protocol as p
from cabinet_runtime.hardware.bundle import Hardware
from cabinet_runtime.hardware.clock import ManualClock
from cabinet_runtime.hardware.simulated import (
    SimulatedDisplay,
    SimulatedFrontCamera,
    SimulatedKeypad,
    SimulatedThermometer,
    TemperatureExcursion,
    Window,
)
from cabinet_runtime.hardware.simulated_scale import ScaleConfig, ScaleFault
from cabinet_runtime.outbox import Outbox
from cabinet_runtime.picks.planogram import LanePlan, Planogram, Product, ShelfPlan
from cabinet_runtime.picks.recognizer import PickRecognizer
from cabinet_runtime.session import BASKET_IN_REVIEW, SessionError, SessionMachine
from cabinet_runtime.session_model import SessionState, Timeouts
from cabinet_runtime.simulation.world import SimulatedCabinet, build_cabinet
from cabinet_runtime.store import LocalStore

S = SessionState
M = TypeVar("M", bound=p.Message)
CABINET_ID = "cab-1"
PLANOGRAM = Planogram(
    currency="USD",
    products=[
        Product("cola", "Cola 330ml", 350.0, 6.0, 150),
        Product("water", "Water 500ml", 520.0, 8.0, 100),
        Product("bar", "Protein bar", 60.0, 2.0, 250),
    ],
    shelves=[
        ShelfPlan("s1", [LanePlan("A1", "cola", 5), LanePlan("A2", "water", 4)]),
        ShelfPlan("s2", [LanePlan("B1", "bar", 6)]),
    ],
)
TIMEOUTS = Timeouts(identify_s=20, step_up_s=30, unlock_s=15, door_open_alarm_s=60, settle_s=30)


@dataclass
class Rig:
    """A simulated cabinet with a session machine wired to a real outbox and store."""

    tmp: Path
    clock: ManualClock
    world: SimulatedCabinet
    hardware: Hardware
    thermometer: SimulatedThermometer
    front: SimulatedFrontCamera
    display: SimulatedDisplay
    keypad: SimulatedKeypad
    link: list[bool] = field(default_factory=lambda: [True])
    machines: list[SessionMachine] = field(default_factory=list)

    def machine(self, timeouts: Timeouts = TIMEOUTS) -> SessionMachine:
        """A (new) runtime process on the same disk and hardware: a restart."""
        machine = SessionMachine(
            hardware=self.hardware,
            outbox=Outbox(self.tmp / "outbox.db"),
            store=LocalStore(self.tmp / "state.db"),
            state_dir=self.tmp,
            make_recognizer=lambda planogram: PickRecognizer(planogram),
            planogram=PLANOGRAM,
            link_up=lambda: self.link[0],
            timeouts=timeouts,
        )
        machine.recover()
        self.machines.append(machine)
        return machine

    def run(self, machine: SessionMachine, seconds: float, step: float = 0.1) -> None:
        end = self.clock.monotonic() + seconds
        while self.clock.monotonic() < end - 1e-9:
            self.clock.advance(step)
            machine.tick()

    def run_until(self, machine: SessionMachine, state: SessionState, limit_s: float = 30) -> None:
        end = self.clock.monotonic() + limit_s
        while machine.state is not state:
            assert self.clock.monotonic() < end, f"stuck in {machine.state}, wanted {state}"
            self.clock.advance(0.1)
            machine.tick()

    def sent(self, kind: type[M]) -> list[M]:
        """What the machine queued for the server, of one kind, in order."""
        outbox = Outbox(self.tmp / "outbox.db")
        entries = outbox.due(sent_before=float("inf"), limit=10_000)
        messages = [p.decode_from_cabinet(e.payload) for e in entries]
        return [m for m in messages if isinstance(m, kind)]

    def unlock_command(self, session_id: str) -> p.UnlockCommand:
        return p.UnlockCommand(
            cabinet_id=CABINET_ID,
            nonce=secrets.token_hex(16),
            issued_at=0.0,
            expires_at=30.0,
            session_id=session_id,
        )


def make_rig(tmp: Path, seed: int = 3) -> Rig:
    clock = ManualClock(start=0.0)
    scales = {
        s.id: ScaleConfig(s.id, 30.0, 1.0, 0.0, seed + i) for i, s in enumerate(PLANOGRAM.shelves)
    }
    world = build_cabinet(PLANOGRAM, scales, clock, seed)
    thermometer = SimulatedThermometer(clock, 4.0, 0.05, seed=seed)
    front = SimulatedFrontCamera(clock)
    display = SimulatedDisplay()
    keypad = SimulatedKeypad(clock)
    hardware = Hardware(
        clock=clock,
        lock=world.lock,
        door=world.door,
        front_camera=front,
        thermometer=thermometer,
        display=display,
        keypad=keypad,
        scales={sid: sh.scale for sid, sh in world.shelves.items()},
        shelf_cameras={sid: sh.camera for sid, sh in world.shelves.items()},
    )
    return Rig(tmp, clock, world, hardware, thermometer, front, display, keypad)


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return make_rig(tmp_path)


QR = "FPQ1.qr-token-123"


def _approved_and_unlocked(rig: Rig, machine: SessionMachine) -> str:
    rig.run(machine, 11)  # idle signal for the scales' reference
    session_id = machine.begin_identify(qr_token=QR)
    machine.on_identify_result(p.IdentifyResult(session_id=session_id, decision="approve"))
    machine.on_command(rig.unlock_command(session_id))
    assert machine.state is S.UNLOCKED
    return session_id


def _shop(rig: Rig, machine: SessionMachine, picks: list[tuple[str, int]]) -> None:
    assert rig.world.door.open()
    rig.run(machine, 1)
    for lane, qty in picks:
        rig.world.take(lane, qty)
        rig.run(machine, 2)
    rig.world.door.close()


# --- transitions --------------------------------------------------------------------------------


def test_purchase_walks_every_state_and_reports_the_real_basket(rig: Rig) -> None:
    machine = rig.machine()
    assert machine.state is S.IDLE
    rig.run(machine, 11)
    embedding = p.pack_embedding([512**-0.5] * 512)  # L2-normalised, as a cabinet sends
    session_id = machine.begin_identify(
        embedding=embedding,
        quality=p.QualityReport(score=0.9, passed=True),
        liveness=p.LivenessReport(score=0.9, passed=True, method="depth"),
    )
    assert machine.state is S.IDENTIFYING
    [identify] = rig.sent(p.Identify)
    assert identify.session_id == session_id
    assert identify.embedding == embedding
    machine.on_identify_result(p.IdentifyResult(session_id=session_id, decision="approve"))
    assert machine.state is S.IDENTIFYING
    assert rig.world.lock.unlock_count == 0  # approval alone moves nothing
    machine.on_command(rig.unlock_command(session_id))
    assert machine.state is S.UNLOCKED
    assert rig.world.lock.unlock_count == 1
    assert rig.world.door.open()
    rig.run(machine, 0.2)
    assert machine.state is S.DOOR_OPEN
    rig.world.take("A1", 2)
    rig.run(machine, 2)
    rig.world.take("B1", 1)
    rig.run(machine, 2)
    rig.world.door.close()
    rig.run(machine, 0.2)
    assert machine.state is S.DOOR_CLOSED
    assert rig.world.lock.is_locked
    rig.run_until(machine, S.SETTLING)
    [closed] = rig.sent(p.SessionClosed)
    assert closed.session_id == session_id
    assert {line.sku: line.qty for line in closed.lines} == {"cola": 2, "bar": 1}
    assert closed.totals.amount_minor == 2 * 150 + 250
    assert closed.totals.currency == "USD"
    assert not closed.review
    assert [e.event for e in rig.sent(p.DoorEvent)] == ["opened", "closed"]
    stock = {s.lane: s.count for s in machine.stock()}
    assert stock == {"A1": 3, "A2": 4, "B1": 5}
    machine.on_settled(
        p.SessionSettled(session_id=session_id, receipt_id="r1", amount_minor=550, currency="USD")
    )
    assert machine.state is S.IDLE
    assert "550" in rig.display.messages[-1]


def test_a_basket_the_server_sends_to_review_ends_the_session_at_once(rig: Rig) -> None:
    machine = rig.machine()
    session_id = _approved_and_unlocked(rig, machine)
    _shop(rig, machine, [("A2", 1)])
    rig.run_until(machine, S.SETTLING)
    [closed] = rig.sent(p.SessionClosed)
    other = p.ErrorReply(code="basket_rejected", detail="lane", ref_id="another-message")
    machine.on_basket_rejected(other)
    assert machine.state is S.SETTLING, "only the refusal of this session's close counts"
    machine.on_basket_rejected(p.ErrorReply(code="basket_rejected", detail="x", ref_id=closed.id))
    assert machine.state is S.IDLE
    assert machine.session_id is None and session_id
    assert rig.display.messages[-1] == BASKET_IN_REVIEW


def test_step_up_then_approval(rig: Rig) -> None:
    machine = rig.machine()
    session_id = machine.begin_identify(qr_token=QR)
    machine.on_identify_result(
        p.IdentifyResult(session_id=session_id, decision="step_up", reason="Last 4 digits?")
    )
    assert machine.state is S.STEP_UP
    assert rig.display.messages[-1] == "Last 4 digits?"
    machine.submit_step_up("4321")
    assert machine.state is S.IDENTIFYING
    [digits] = rig.sent(p.StepUpDigits)
    assert digits.digits == "4321"
    machine.on_identify_result(p.IdentifyResult(session_id=session_id, decision="approve"))
    machine.on_command(rig.unlock_command(session_id))
    assert machine.state is S.UNLOCKED


def test_bad_step_up_digits_change_nothing(rig: Rig) -> None:
    machine = rig.machine()
    session_id = machine.begin_identify(qr_token=QR)
    machine.on_identify_result(p.IdentifyResult(session_id=session_id, decision="step_up"))
    with pytest.raises(ValueError, match="four digits"):
        machine.submit_step_up("12")
    assert machine.state is S.STEP_UP
    assert rig.sent(p.StepUpDigits) == []


def test_deny_returns_to_idle_with_the_reason_shown(rig: Rig) -> None:
    machine = rig.machine()
    session_id = machine.begin_identify(qr_token=QR)
    machine.on_identify_result(
        p.IdentifyResult(session_id=session_id, decision="deny", reason="Not recognised")
    )
    assert machine.state is S.IDLE
    assert machine.session_id is None
    assert rig.display.messages[-1] == "Not recognised"


@pytest.mark.parametrize("decision", [None, "step_up"])
def test_identify_and_step_up_time_out_to_idle(rig: Rig, decision: str | None) -> None:
    machine = rig.machine()
    session_id = machine.begin_identify(qr_token=QR)
    if decision == "step_up":
        machine.on_identify_result(p.IdentifyResult(session_id=session_id, decision="step_up"))
    limit = TIMEOUTS.step_up_s if decision else TIMEOUTS.identify_s
    rig.run(machine, limit - 1)
    assert machine.state is (S.STEP_UP if decision else S.IDENTIFYING)
    rig.run(machine, 1.1)
    assert machine.state is S.IDLE
    # a late unlock for the abandoned session moves nothing
    with pytest.raises(SessionError):
        machine.on_command(rig.unlock_command(session_id))
    assert rig.world.lock.unlock_count == 0


def test_unlock_without_a_matching_session_moves_nothing(rig: Rig) -> None:
    machine = rig.machine()
    with pytest.raises(SessionError):
        machine.on_command(rig.unlock_command("no-such-session"))
    session_id = machine.begin_identify(qr_token=QR)
    with pytest.raises(SessionError):
        machine.on_command(rig.unlock_command("another-session"))
    assert machine.session_id == session_id
    assert rig.world.lock.unlock_count == 0


def test_unlocked_but_never_opened_relocks_and_closes_an_empty_session(rig: Rig) -> None:
    machine = rig.machine()
    session_id = _approved_and_unlocked(rig, machine)
    rig.run(machine, TIMEOUTS.unlock_s - 1)
    assert machine.state is S.UNLOCKED
    rig.run(machine, 1.1)
    assert machine.state is S.SETTLING
    assert rig.world.lock.is_locked
    assert rig.world.lock.commands[-1][1] == "lock"
    [closed] = rig.sent(p.SessionClosed)
    assert closed.session_id == session_id
    assert closed.lines == ()
    # no session_settled arrives: settle timeout, the message stays queued
    rig.run(machine, TIMEOUTS.settle_s + 0.1)
    assert machine.state is S.IDLE
    assert len(rig.sent(p.SessionClosed)) == 1


def test_door_left_open_raises_the_alarm_once_and_the_session_still_completes(rig: Rig) -> None:
    machine = rig.machine()
    _approved_and_unlocked(rig, machine)
    assert rig.world.door.open()
    rig.run(machine, 1)
    rig.world.take("A2", 1)
    rig.run(machine, TIMEOUTS.door_open_alarm_s)
    assert machine.state is S.DOOR_OPEN
    assert machine.alarm
    rig.run(machine, 30)
    assert [e.event for e in rig.sent(p.DoorEvent)] == ["opened", "left_open"]
    assert rig.display.messages[-1] == "Please close the door"
    rig.world.door.close()
    rig.run_until(machine, S.SETTLING)
    [closed] = rig.sent(p.SessionClosed)
    assert {line.sku: line.qty for line in closed.lines} == {"water": 1}


def test_no_new_session_while_the_link_is_down_but_an_open_one_completes(rig: Rig) -> None:
    machine = rig.machine()
    rig.link[0] = False
    assert not machine.can_start()
    with pytest.raises(SessionError):
        machine.begin_identify(qr_token=QR)
    assert rig.sent(p.Message) == []
    rig.link[0] = True
    _approved_and_unlocked(rig, machine)
    rig.link[0] = False  # link lost mid-session
    _shop(rig, machine, [("A1", 1)])
    rig.run_until(machine, S.SETTLING)
    [closed] = rig.sent(p.SessionClosed)
    assert {line.sku: line.qty for line in closed.lines} == {"cola": 1}


# --- lockout ------------------------------------------------------------------------------------


def test_cold_chain_lockout_after_thirty_minutes_above_five_degrees(rig: Rig) -> None:
    machine = rig.machine()
    start = rig.clock.monotonic()
    rig.thermometer.add_excursion(TemperatureExcursion(start + 1, 10 * 60, 7.0))
    rig.thermometer.add_excursion(TemperatureExcursion(start + 20 * 60 + 1, 40 * 60, 7.5))
    rig.run(machine, 20 * 60, step=1.0)  # 10 warm minutes, then cold again: clock resets
    assert machine.state is S.IDLE
    rig.run(machine, 29 * 60, step=1.0)
    assert machine.state is S.IDLE
    rig.run(machine, 2 * 60, step=1.0)
    assert machine.state is S.MAINTENANCE
    lockout = machine.lockout
    assert lockout is not None
    assert "cold chain" in lockout.reason
    assert not machine.can_start()
    with pytest.raises(SessionError):
        machine.begin_identify(qr_token=QR)


def test_lockout_stays_across_restart_until_an_operator_clears_it(rig: Rig) -> None:
    machine = rig.machine()
    machine.on_command(
        p.LockoutCommand(
            cabinet_id=CABINET_ID, nonce="n" * 32, issued_at=0, expires_at=30, reason="restock"
        )
    )
    assert machine.state is S.MAINTENANCE
    rig.run(machine, 60)
    restarted = rig.machine()
    assert restarted.state is S.MAINTENANCE
    assert rig.world.lock.is_locked
    restarted.on_command(
        p.LockoutCommand(
            cabinet_id=CABINET_ID,
            nonce="m" * 32,
            issued_at=0,
            expires_at=30,
            reason="done",
            clear=True,
        )
    )
    assert restarted.state is S.IDLE
    assert restarted.lockout is None
    rig.run(restarted, 1)
    assert restarted.state is S.IDLE
    assert restarted.can_start()


def test_tamper_door_forced_while_locked_locks_out(rig: Rig) -> None:
    machine = rig.machine()
    assert not rig.world.door.open()  # locked: the handle does nothing
    assert rig.world.door.open(force=True)
    rig.run(machine, 0.1)
    assert machine.state is S.MAINTENANCE
    assert "tamper" in (machine.lockout.reason if machine.lockout else "")
    assert [e.event for e in rig.sent(p.DoorEvent)] == ["opened", "forced"]


def test_front_camera_failure_locks_out_and_clearing_while_broken_locks_out_again(
    rig: Rig,
) -> None:
    machine = rig.machine()
    now = rig.clock.monotonic()
    rig.front.drop(Window(now + 1, 100))
    rig.run(machine, 2)
    assert machine.state is S.MAINTENANCE
    assert "front_camera" in (machine.lockout.reason if machine.lockout else "")
    machine.clear_lockout()
    assert machine.state is S.IDLE
    rig.run(machine, 0.1)
    assert machine.state is S.MAINTENANCE  # still broken
    rig.run(machine, 100)
    machine.clear_lockout()
    rig.run(machine, 1)
    assert machine.state is S.IDLE  # repaired


def test_scale_failure_mid_session_lets_the_session_finish_then_locks_out(rig: Rig) -> None:
    machine = rig.machine()
    _approved_and_unlocked(rig, machine)
    assert rig.world.door.open()
    rig.run(machine, 0.5)
    rig.world.shelves["s2"].scale.inject(ScaleFault("scale_drop", rig.clock.monotonic(), 3))
    rig.run(machine, 1)
    assert machine.state is S.DOOR_OPEN  # not interrupted
    rig.world.door.close()
    rig.run_until(machine, S.MAINTENANCE)
    assert len(rig.sent(p.SessionClosed)) == 1
    assert rig.world.lock.is_locked
    assert "scale:s2" in (machine.lockout.reason if machine.lockout else "")


def test_a_jammed_lock_on_unlock_ends_the_session_and_locks_out(rig: Rig) -> None:
    machine = rig.machine()
    rig.run(machine, 11)
    session_id = machine.begin_identify(qr_token=QR)
    rig.world.lock.stick(1)
    machine.on_command(rig.unlock_command(session_id))
    assert machine.state is S.MAINTENANCE
    [closed] = rig.sent(p.SessionClosed)
    assert closed.lines == ()


def test_config_command_changes_timeouts(rig: Rig) -> None:
    machine = rig.machine()
    machine.on_command(
        p.ConfigCommand(
            cabinet_id=CABINET_ID,
            nonce="c" * 32,
            issued_at=0,
            expires_at=30,
            unlock_timeout_s=5.0,
            door_open_alarm_s=90.0,
        )
    )
    assert machine.timeouts.unlock_s == 5.0
    assert machine.timeouts.door_open_alarm_s == 90.0
    assert machine.timeouts.identify_s == TIMEOUTS.identify_s
    restarted = rig.machine()  # the server's settings survive a restart
    assert restarted.timeouts.unlock_s == 5.0
    assert restarted.config_override is not None


# --- restart recovery ---------------------------------------------------------------------------


def test_restart_with_the_door_open_finishes_the_session_from_the_store(rig: Rig) -> None:
    machine = rig.machine()
    session_id = _approved_and_unlocked(rig, machine)
    assert rig.world.door.open()
    rig.run(machine, 1)
    rig.world.take("A1", 1)
    rig.run(machine, 2)
    # power cut: the process is gone; the customer keeps shopping
    rig.world.take("A2", 1)
    rig.clock.advance(3)
    restarted = rig.machine()
    assert restarted.state is S.DOOR_OPEN
    assert restarted.session_id == session_id
    rig.run(restarted, 1)
    rig.world.door.close()
    rig.run_until(restarted, S.SETTLING)
    [closed] = rig.sent(p.SessionClosed)
    assert closed.session_id == session_id
    assert {line.sku: line.qty for line in closed.lines} == {"cola": 1, "water": 1}
    assert closed.recovered


def test_restart_after_the_door_closed_while_down_still_recognises_the_basket(rig: Rig) -> None:
    machine = rig.machine()
    session_id = _approved_and_unlocked(rig, machine)
    assert rig.world.door.open()
    rig.run(machine, 1)
    rig.world.take("B1", 2)
    rig.run(machine, 2)
    rig.world.door.close()  # closed during the outage: the event is never seen
    rig.clock.advance(5)
    restarted = rig.machine()
    assert restarted.state is S.DOOR_CLOSED
    assert rig.world.lock.is_locked
    rig.run_until(restarted, S.SETTLING)
    [closed] = rig.sent(p.SessionClosed)
    assert closed.session_id == session_id
    assert {line.sku: line.qty for line in closed.lines} == {"bar": 2}


def test_restart_while_identifying_abandons_the_attempt(rig: Rig) -> None:
    machine = rig.machine()
    machine.begin_identify(qr_token=QR)
    restarted = rig.machine()
    assert restarted.state is S.IDLE
    assert restarted.can_start()


def test_restart_while_settling_keeps_the_close_message_queued(rig: Rig) -> None:
    machine = rig.machine()
    _approved_and_unlocked(rig, machine)
    _shop(rig, machine, [("A1", 1)])
    rig.run_until(machine, S.SETTLING)
    restarted = rig.machine()
    assert restarted.state is S.SETTLING
    assert len(rig.sent(p.SessionClosed)) == 1
    snapshot = msgspec.json.decode(LocalStore(rig.tmp / "state.db").get("session") or b"{}")
    assert snapshot["state"] == "settling"
    assert {s.lane: s.count for s in restarted.stock()}["A1"] == 4  # stock survived too


def test_a_crash_between_queueing_the_close_and_saving_the_state_sends_one_close(
    rig: Rig,
) -> None:
    machine = rig.machine()
    session_id = _approved_and_unlocked(rig, machine)
    _shop(rig, machine, [("A1", 1)])
    rig.run_until(machine, S.DOOR_CLOSED)
    recording = (rig.tmp / "session.rec").read_bytes()
    rig.run_until(machine, S.SETTLING)
    # as if the process died right after queueing session_closed: the saved state
    # still says door_closed and the recording is still on disk
    store = LocalStore(rig.tmp / "state.db")
    store.put(
        LocalStore.SESSION_KEY,
        msgspec.json.encode({"state": "door_closed", "session_id": session_id, "approved": True}),
    )
    (rig.tmp / "session.rec").write_bytes(recording)
    restarted = rig.machine()
    assert restarted.state is S.DOOR_CLOSED
    rig.run_until(restarted, S.SETTLING)
    closes = rig.sent(p.SessionClosed)
    assert len(closes) == 1  # the same message id: queued once
    assert closes[0].session_id == session_id


def test_an_operator_lockout_during_a_session_waits_for_it_even_across_a_restart(
    rig: Rig,
) -> None:
    machine = rig.machine()
    _approved_and_unlocked(rig, machine)
    assert rig.world.door.open()
    rig.run(machine, 0.5)
    machine.on_command(
        p.LockoutCommand(
            cabinet_id=CABINET_ID, nonce="p" * 32, issued_at=0, expires_at=30, reason="recall"
        )
    )
    assert machine.state is S.DOOR_OPEN  # the customer is not locked in or out mid-purchase
    restarted = rig.machine()
    assert restarted.state is S.DOOR_OPEN
    assert not restarted.can_start()
    rig.world.door.close()
    rig.run_until(restarted, S.MAINTENANCE)
    assert len(rig.sent(p.SessionClosed)) == 1
    assert "recall" in (restarted.lockout.reason if restarted.lockout else "")


def test_a_lock_that_sticks_when_the_door_closes_locks_out_after_the_session(rig: Rig) -> None:
    machine = rig.machine()
    _approved_and_unlocked(rig, machine)
    assert rig.world.door.open()
    rig.run(machine, 1)
    rig.world.lock.stick(1)  # the relock command at close will not move the bolt
    rig.world.door.close()
    rig.run_until(machine, S.MAINTENANCE)
    assert len(rig.sent(p.SessionClosed)) == 1  # the purchase itself still completed
    assert "door_lock" in (machine.lockout.reason if machine.lockout else "")
    assert rig.world.lock.commands[-1][1:] == ("lock", True)  # retried on lockout

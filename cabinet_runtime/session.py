"""The cabinet's session state machine.

idle → identifying → (step_up) → unlocked → door_open → door_closed → settling → idle,
plus maintenance (lockout). The machine is single-threaded and time-driven: the
runtime feeds it server messages and calls ``tick()``; every deadline is read
from the injected hardware clock, so tests advance a ManualClock instead of
sleeping. Each transition is written to the local store first, so a restart
mid-session resumes the session (``recover``) and finishes it from the pick
recording on disk.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import msgspec

from cabinet_runtime import protocol as p
from cabinet_runtime.hardware.bundle import Hardware
from cabinet_runtime.hardware.interfaces import DoorEvent, LockState
from cabinet_runtime.picks.planogram import Planogram
from cabinet_runtime.picks.recognizer import PickResult
from cabinet_runtime.picks.recorder import SessionRecorder
from cabinet_runtime.session_guards import (
    ColdChainWatch,
    LockoutBook,
    describe,
    service_failures,
)
from cabinet_runtime.session_model import (
    DOOR_MAY_OPEN,
    PHYSICAL,
    Lockout,
    Outgoing,
    Recognizer,
    SessionSnapshot,
    SessionState,
    Timeouts,
    current_planogram,
    lane_stock,
    restocked,
    session_closed,
    session_closed_id,
)
from cabinet_runtime.store import LocalStore

log = logging.getLogger(__name__)

RECORDING_FILE = "session.rec"
PLANOGRAM_KEY = "planogram"
BASKET_IN_REVIEW = "Thank you! Staff will check your basket; the receipt follows."


class SessionError(Exception):
    """A request the machine cannot honour in its current state; nothing changed."""


class SessionMachine:
    def __init__(
        self,
        *,
        hardware: Hardware,
        outbox: Outgoing,
        store: LocalStore,
        state_dir: Path,
        make_recognizer: Callable[[Planogram], Recognizer],
        planogram: Planogram,
        link_up: Callable[[], bool],
        timeouts: Timeouts | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.hw = hardware
        self.timeouts = timeouts or Timeouts()
        self._outbox = outbox
        self._store = store
        self._recording_path = state_dir / RECORDING_FILE
        self._make_recognizer = make_recognizer
        self._link_up = link_up
        self._wall = wall_clock
        self._snap = SessionSnapshot(state=SessionState.IDLE)
        self._last_session_id: str | None = None
        self._entered_at = hardware.clock.monotonic()
        self.idle_since = self._entered_at
        self._cold_chain = ColdChainWatch(
            self.timeouts.cold_chain_limit_c, self.timeouts.cold_chain_s
        )
        self._lockouts = LockoutBook(store, wall_clock)
        self._door_events: list[DoorEvent] = []
        self._door_lock = threading.Lock()
        if (override := self.config_override) is not None:
            self._apply_config(override)
        self.recognizer = make_recognizer(self._stored_planogram(planogram))
        self._recorder = self._new_recorder()
        hardware.door.subscribe(self._on_door)

    # --- read-only view -----------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._snap.state

    @property
    def session_id(self) -> str | None:
        return self._snap.session_id

    @property
    def last_session_id(self) -> str | None:
        """The most recent session's id, kept after it ends: a watcher that looks only now and
        then still learns that a session ran, however briefly (a refusal is quick)."""
        return self._last_session_id

    @property
    def lockout(self) -> Lockout | None:
        return self._lockouts.current

    @property
    def alarm(self) -> bool:
        return self._snap.alarm

    def can_start(self) -> bool:
        """A new session may start: idle, link up, no lockout pending."""
        return self.state is SessionState.IDLE and self._link_up() and not self._lockouts.pending

    def stock(self) -> tuple[p.LaneStock, ...]:
        return lane_stock(self.recognizer.planogram)

    # --- transitions --------------------------------------------------------------------------

    def _enter(self, state: SessionState, **changes: object) -> None:
        log.info("session %s: %s -> %s", self._snap.session_id, self._snap.state, state)
        self._snap = msgspec.structs.replace(self._snap, state=state, **changes)
        self._entered_at = self.hw.clock.monotonic()
        if state is SessionState.IDLE:
            self.idle_since = self._entered_at
        if state is SessionState.IDLE or state is SessionState.MAINTENANCE:
            self._store.delete(LocalStore.SESSION_KEY)
        else:
            self._store.put(LocalStore.SESSION_KEY, msgspec.json.encode(self._snap))

    def _elapsed(self) -> float:
        return self.hw.clock.monotonic() - self._entered_at

    def begin_identify(
        self,
        *,
        embedding: bytes | None = None,
        quality: p.QualityReport | None = None,
        liveness: p.LivenessReport | None = None,
        qr_token: str | None = None,
        pack_id: str | None = None,
    ) -> str:
        """Start a session with a face's evidence (or a QR token); returns the session id."""
        if not self.can_start():
            raise SessionError(f"cannot start a session now (state {self.state}, link or lockout)")
        session_id = str(uuid.uuid4())
        message = p.Identify(  # validates the evidence before anything changes
            session_id=session_id,
            embedding=embedding,
            quality=quality,
            liveness=liveness,
            qr_token=qr_token,
            pack_id=pack_id,
        )
        self._enter(
            SessionState.IDENTIFYING,
            session_id=session_id,
            approved=False,
            alarm=False,
            recovered=False,
        )
        self._last_session_id = session_id
        self._outbox.put(message)
        self.hw.display.show("One moment…")
        return session_id

    def on_identify_result(self, result: p.IdentifyResult) -> None:
        if result.session_id != self.session_id or self.state not in (
            SessionState.IDENTIFYING,
            SessionState.STEP_UP,
        ):
            log.warning("identify_result for a session not awaiting one: %s", result.session_id)
            return
        if result.reason:
            self.hw.display.show(result.reason)
        if result.decision == "approve":
            self._enter(SessionState.IDENTIFYING, approved=True)
        elif result.decision == "step_up":
            self._enter(SessionState.STEP_UP)
        else:
            self._enter(SessionState.IDLE, session_id=None)

    def submit_step_up(self, digits: str) -> None:
        if self.state is not SessionState.STEP_UP or self.session_id is None:
            raise SessionError("no step-up is pending")
        message = p.StepUpDigits(session_id=self.session_id, digits=digits)
        self._enter(SessionState.IDENTIFYING)
        self._outbox.put(message)

    def on_command(self, command: p.AnyCommand) -> None:
        """A command whose signature, address, expiry and nonce were already verified."""
        if isinstance(command, p.UnlockCommand):
            self._unlock(command)
        elif isinstance(command, p.LockoutCommand):
            if command.clear:
                self.clear_lockout()
            else:
                self.request_lockout(f"operator: {command.reason}")
        else:
            self._store.put(LocalStore.CONFIG_KEY, p.canonical_command_bytes(command))
            self._apply_config(command)

    def _apply_config(self, command: p.ConfigCommand) -> None:
        changes: dict[str, float] = {}
        if command.unlock_timeout_s is not None:
            changes["unlock_s"] = command.unlock_timeout_s
        if command.door_open_alarm_s is not None:
            changes["door_open_alarm_s"] = command.door_open_alarm_s
        self.timeouts = dataclasses.replace(self.timeouts, **changes)

    @property
    def config_override(self) -> p.ConfigCommand | None:
        """The last config command from the server (it survives restarts)."""
        raw = self._store.get(LocalStore.CONFIG_KEY)
        command = None if raw is None else p.decode_command_body(raw)
        return command if isinstance(command, p.ConfigCommand) else None

    def _unlock(self, command: p.UnlockCommand) -> None:
        if command.session_id != self.session_id or self.state not in (
            SessionState.IDENTIFYING,
            SessionState.STEP_UP,
        ):
            raise SessionError(f"unlock for session {command.session_id} that is not awaiting one")
        if self.lockout is not None or self._lockouts.pending is not None:
            raise SessionError("cabinet is locked out")
        self._recorder.begin()  # before frames and the scale reference, on disk
        self._enter(SessionState.UNLOCKED, approved=True)
        self.hw.lock.unlock(relock_after_s=self.timeouts.unlock_s)
        if self.hw.lock.state is LockState.JAMMED:
            self.hw.lock.lock()
            self._finish(None)
            self.request_lockout("door lock jammed")
            return
        self.hw.display.show(command.display_message or "Open the door")

    def on_settled(self, settled: p.SessionSettled) -> None:
        if settled.session_id == self.session_id and self.state is SessionState.SETTLING:
            self.hw.display.show(f"Paid {settled.amount_minor} {settled.currency}. Thank you!")
            self._enter(SessionState.IDLE, session_id=None)

    def on_basket_rejected(self, error: p.ErrorReply) -> None:
        """The server refused this session's basket and sent it to staff review: the
        customer hears so now instead of waiting out the settle timeout."""
        if (
            self.state is SessionState.SETTLING
            and self.session_id is not None
            and error.ref_id == session_closed_id(self.session_id)
        ):
            self.hw.display.show(BASKET_IN_REVIEW)
            self._enter(SessionState.IDLE, session_id=None)

    # --- door ---------------------------------------------------------------------------------

    def _on_door(self, event: DoorEvent) -> None:
        # The sensor may call from a driver thread; events are handled in tick().
        with self._door_lock:
            self._door_events.append(event)

    def _handle_door(self, event: DoorEvent) -> None:
        kind: p.DoorEventKind = "opened" if event.is_open else "closed"
        self._outbox.put(p.DoorEvent(event=kind, at=self._wall(), session_id=self.session_id))
        if event.is_open:
            if self.state in DOOR_MAY_OPEN:
                self._recorder.door_opened(event.t)
                if self.state is SessionState.UNLOCKED:
                    self._enter(SessionState.DOOR_OPEN)
            elif self.state is not SessionState.MAINTENANCE:
                self._outbox.put(p.DoorEvent(event="forced", at=self._wall()))
                self._lock_out("tamper: door opened while locked")
        elif self.state is SessionState.DOOR_OPEN:
            self.hw.lock.lock()
            self._recorder.door_closed(event.t)
            self._enter(SessionState.DOOR_CLOSED)

    # --- time ---------------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance on time: door events, recording, deadlines, lockout conditions."""
        with self._door_lock:
            events, self._door_events = self._door_events, []
        for event in events:
            self._handle_door(event)
        self._recorder.poll()
        self._check_deadlines()
        self._check_conditions()

    def _check_deadlines(self) -> None:
        t, state, elapsed = self.timeouts, self.state, self._elapsed()
        waiting = {SessionState.IDENTIFYING: t.identify_s, SessionState.STEP_UP: t.step_up_s}
        if state in waiting and elapsed >= waiting[state]:
            self.hw.display.show("Sorry, please try again")
            self._enter(SessionState.IDLE, session_id=None)
        elif state is SessionState.UNLOCKED and elapsed >= t.unlock_s:
            self.hw.lock.lock()  # unlocked but never opened: relock, nothing taken
            self._finish(None)
        elif state is SessionState.DOOR_OPEN and elapsed >= t.door_open_alarm_s:
            if not self._snap.alarm:
                self._enter(SessionState.DOOR_OPEN, alarm=True)
                self._entered_at -= elapsed  # the alarm does not restart the clock
                self.hw.display.show("Please close the door")
                self._outbox.put(
                    p.DoorEvent(event="left_open", at=self._wall(), session_id=self.session_id)
                )
        elif state is SessionState.DOOR_CLOSED and self._recorder.is_settled():
            recording = self._recorder.finish()
            self._finish(self.recognizer.recognize(recording))
        elif state is SessionState.SETTLING and elapsed >= t.settle_s:
            self._enter(SessionState.IDLE, session_id=None)  # session_closed stays in the outbox

    def _finish(self, result: PickResult | None) -> None:
        session_id = self.session_id
        assert session_id is not None
        self._outbox.put(session_closed(session_id, result, recovered=self._snap.recovered))
        if result is not None:
            planogram = restocked(self.recognizer.planogram, result.stock)
            self._store.put(PLANOGRAM_KEY, msgspec.json.encode(planogram))
            self.recognizer = self._make_recognizer(planogram)
            if result.review:
                self.hw.display.show("Thank you! Your basket is being checked")
        self._recorder = self._new_recorder(fresh=True)
        self._enter(SessionState.SETTLING)

    # --- lockout ------------------------------------------------------------------------------

    def _check_conditions(self) -> None:
        reason = self._cold_chain.update(self.hw.thermometer.read(), self.hw.clock.monotonic())
        if reason is not None:
            self.request_lockout(reason)
        failures = service_failures(self.hw)
        if failures:
            self.request_lockout(describe(failures))
        pending = self._lockouts.pending
        if pending is not None and self.state not in PHYSICAL:
            self._lock_out(pending)

    def request_lockout(self, reason: str) -> None:
        """Lock out now, or once the open session has finished (it completes first)."""
        if self.state is SessionState.MAINTENANCE:
            return
        if self.state in PHYSICAL:
            self._lockouts.defer(reason)
        else:
            self._lock_out(reason)

    def _lock_out(self, reason: str) -> None:
        if self.state is SessionState.MAINTENANCE:
            return
        log.warning("lockout: %s", reason)
        if self.hw.lock.state is not LockState.LOCKED:
            self.hw.lock.lock()
        self._lockouts.enter(reason)
        self.hw.display.show("Out of service")
        self._enter(SessionState.MAINTENANCE, session_id=None)

    def clear_lockout(self) -> None:
        """The operator's release; conditions still present lock out again on the next tick."""
        self._lockouts.clear()
        self._cold_chain.reset()
        if self.state is SessionState.MAINTENANCE:
            self.hw.display.show("Welcome")
            self._enter(SessionState.IDLE, session_id=None)

    # --- restart recovery ---------------------------------------------------------------------

    def recover(self) -> None:
        """Resume after a restart from the local store (call once, before the first tick)."""
        if self.lockout is not None:
            self._snap = SessionSnapshot(state=SessionState.MAINTENANCE)
            self.hw.lock.lock()
            return
        raw = self._store.get(LocalStore.SESSION_KEY)
        if raw is None:
            return
        snap = msgspec.structs.replace(
            msgspec.json.decode(raw, type=SessionSnapshot), recovered=True
        )
        self._snap = snap
        self._entered_at = self.hw.clock.monotonic()
        log.info("recovering session %s from %s", snap.session_id, snap.state)
        if snap.state in PHYSICAL and self._recording_path.exists():
            self._recorder = SessionRecorder.resume(
                self._recording_path, self.hw.scales, self.hw.shelf_cameras, self.hw.clock
            )
            self._resume_physical()
        elif snap.state in PHYSICAL:
            # No recording survived: nothing can be recognised; report an empty, reviewed basket.
            self.hw.lock.lock()
            assert snap.session_id is not None
            self._outbox.put(
                msgspec.structs.replace(
                    session_closed(snap.session_id, None, recovered=True), review=True
                )
            )
            self._enter(SessionState.SETTLING)
        elif snap.state in (SessionState.IDENTIFYING, SessionState.STEP_UP):
            self._enter(SessionState.IDLE, session_id=None)  # no door moved; the server times out

    def _resume_physical(self) -> None:
        now = self.hw.clock.monotonic()
        if self.hw.door.is_open:
            self._recorder.door_opened(now)
            self._enter(SessionState.DOOR_OPEN)
            return
        # Door closed at power-up: whatever happened while we were down is in the
        # scales' current level, so close the session and recognise it.
        self.hw.lock.lock()
        recording = self._recorder.recording
        if recording.opened_at is None:
            samples = [s[0] for shelf in recording.shelves.values() for s in shelf.samples]
            self._recorder.door_opened(max(samples, default=now))
        if recording.closed_at is None:
            self._recorder.door_closed(now)
        self._enter(SessionState.DOOR_CLOSED)

    # --- helpers ------------------------------------------------------------------------------

    def _new_recorder(self, fresh: bool = False) -> SessionRecorder:
        if fresh and self._recording_path.exists():
            self._recording_path.unlink()
        return SessionRecorder(
            self.hw.scales, self.hw.shelf_cameras, self.hw.clock, self._recording_path
        )

    def _stored_planogram(self, configured: Planogram) -> Planogram:
        raw = self._store.get(PLANOGRAM_KEY)
        if raw is None:
            return configured
        return current_planogram(configured, msgspec.json.decode(raw, type=Planogram))

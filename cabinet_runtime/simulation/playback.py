"""Plays a scenario on the simulated cabinet through the real recognition path.

The world acts on a virtual clock; the runtime side (recorder and recognizer)
only polls the simulated drivers through their interfaces. A power loss kills
the runtime side: it comes back from its last on-disk checkpoint, as the real
runtime would after a restart.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from cabinet_runtime.hardware.clock import ManualClock
from cabinet_runtime.hardware.interfaces import DoorEvent
from cabinet_runtime.hardware.simulated import Window
from cabinet_runtime.hardware.simulated_scale import ScaleConfig, ScaleFault
from cabinet_runtime.picks.recognizer import PickRecognizer, PickResult
from cabinet_runtime.picks.recorder import SessionRecorder
from cabinet_runtime.picks.weighing import LOOKBACK_S
from cabinet_runtime.scenario import FaultSpec, Scenario
from cabinet_runtime.simulation.world import SimulatedCabinet, build_cabinet

TICK_S = 0.1
CHECKPOINT_EVERY_S = 2.0
UNLOCK_LEAD_S = 0.5
DEFAULT_MAGNITUDE_G = {"vibration": 60.0, "hand_rest": 400.0}


@dataclass(frozen=True, slots=True)
class ScenarioOutcome:
    name: str
    expected: dict[str, int]
    result: PickResult
    settle_s: float
    """Virtual time from door close until the scales had settled."""
    compute_s: float
    """Wall time spent turning the recording into a basket."""
    compute_cpu_s: float = 0.0
    """CPU time of the same work (steadier than wall time on a busy machine)."""

    @property
    def exact(self) -> bool:
        return self.result.basket == self.expected


def _inject(cabinet: SimulatedCabinet, fault: FaultSpec) -> None:
    shelves = [cabinet.shelves[fault.shelf]] if fault.shelf else list(cabinet.shelves.values())
    window = Window(fault.t, fault.duration_s)
    for shelf in shelves:
        if fault.kind in ("vibration", "hand_rest"):
            grams = fault.magnitude_g or DEFAULT_MAGNITUDE_G[fault.kind]
            shelf.scale.inject(ScaleFault(fault.kind, fault.t, fault.duration_s, grams))
        elif fault.kind in ("scale_drop", "power_loss"):
            shelf.scale.inject(ScaleFault("scale_drop", fault.t, fault.duration_s))
        if fault.kind in ("camera_drop", "power_loss"):
            shelf.camera.drop(window)


def _schedule_customer(cabinet: SimulatedCabinet, clock: ManualClock, scenario: Scenario) -> None:
    clock.call_at(-UNLOCK_LEAD_S, lambda: cabinet.lock.unlock(relock_after_s=30.0))

    def open_door() -> None:
        cabinet.door.open()

    clock.call_at(0.0, open_door)
    for event in scenario.events:
        if event.action == "close":
            clock.call_at(event.t, cabinet.door.close)
        elif event.action == "take":
            # the customer reaches for the lane's own product, as the scenario says
            sku = scenario.sku_of(event)
            clock.call_at(event.t, partial(_take, cabinet, event.lane or "", event.qty, sku))
        else:
            sku = scenario.sku_of(event)
            clock.call_at(event.t, partial(cabinet.put, event.lane or "", sku, event.qty))


def _take(cabinet: SimulatedCabinet, lane: str, qty: int, sku: str) -> None:
    cabinet.take(lane, qty, sku)


def run_scenario(scenario: Scenario, base_dir: Path | None = None) -> ScenarioOutcome:
    clock = ManualClock(start=-(LOOKBACK_S + 2.0))
    scale_cfgs = {
        s.id: ScaleConfig(
            s.id, s.scale.rate_hz, s.scale.noise_g, s.scale.drift_g_per_min, scenario.seed * 31 + i
        )
        for i, s in enumerate(scenario.shelves)
    }
    planogram = scenario.planogram
    cabinet = build_cabinet(planogram, scale_cfgs, clock, scenario.seed, base_dir)
    for fault in scenario.faults:
        _inject(cabinet, fault)
    _schedule_customer(cabinet, clock, scenario)
    outages = [Window(f.t, f.duration_s) for f in scenario.faults if f.kind == "power_loss"]
    scales = {sid: sh.scale for sid, sh in cabinet.shelves.items()}
    cameras = {sid: sh.camera for sid, sh in cabinet.shelves.items()}
    recognizer = PickRecognizer(planogram, image_dir=base_dir)
    with tempfile.TemporaryDirectory(prefix="cabinet-sim-") as tmp:
        store = Path(tmp) / "session.rec"
        recorder: SessionRecorder | None
        recorder = SessionRecorder(scales, cameras, clock, store, durable=False)

        def on_door(event: DoorEvent) -> None:
            if recorder is None:
                return  # no power: the event is missed, recovered at power-up
            if event.is_open:
                recorder.door_opened(event.t)
            else:
                recorder.door_closed(event.t)

        cabinet.door.subscribe(on_door)
        clock.call_at(-UNLOCK_LEAD_S, lambda: recorder.begin() if recorder else None)
        last_checkpoint = clock.monotonic()
        settled_at = None
        while True:
            clock.advance(TICK_S)
            now = clock.monotonic()
            powered = not any(w.active(now) for w in outages)
            if not powered:
                recorder = None
                continue
            if recorder is None:
                recorder = SessionRecorder.resume(store, scales, cameras, clock, durable=False)
                if not cabinet.door.is_open and recorder.recording.closed_at is None:
                    recorder.door_closed(now)
            recorder.poll()
            if now - last_checkpoint >= CHECKPOINT_EVERY_S:
                recorder.checkpoint()
                last_checkpoint = now
            if recorder.is_settled():
                settled_at = now
                break
        started, started_cpu = time.perf_counter(), time.process_time()
        recording = recorder.finish()
        result = recognizer.recognize(recording)
        compute = time.perf_counter() - started
        compute_cpu = time.process_time() - started_cpu
    closed = recording.closed_at if recording.closed_at is not None else settled_at
    return ScenarioOutcome(
        scenario.name, scenario.expected_basket(), result, settled_at - closed, compute, compute_cpu
    )

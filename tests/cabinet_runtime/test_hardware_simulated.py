"""Simulated drivers behave like the hardware, and misbehave when told to."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics.model_pack import default_pack_dir
from cabinet_runtime.hardware.clock import ManualClock
from cabinet_runtime.hardware.interfaces import DoorEvent, LockState
from cabinet_runtime.hardware.simulated import (
    SimulatedDepthCamera,
    SimulatedDoorLock,
    SimulatedDoorSensor,
    SimulatedFrontCamera,
    SimulatedKeypad,
    SimulatedThermometer,
    TemperatureExcursion,
    Window,
)
from cabinet_runtime.hardware.simulated_scale import ScaleConfig, ScaleFault, SimulatedShelfScale

IMAGES = default_pack_dir()  # real photos shipped with the face model pack


def _door(
    relock_after_s: float = 5.0, **kw: float
) -> tuple[ManualClock, SimulatedDoorSensor, SimulatedDoorLock]:
    clock = ManualClock()
    door = SimulatedDoorSensor(clock)
    lock = SimulatedDoorLock(clock, door, relock_after_s=relock_after_s, **kw)  # type: ignore[arg-type]
    return clock, door, lock


def test_locked_door_does_not_open_and_unlock_relocks_after_timeout() -> None:
    clock, door, lock = _door(relock_after_s=5.0)
    assert lock.is_locked and not door.open()
    lock.unlock()
    assert lock.state is LockState.UNLOCKED
    clock.advance(4.9)
    assert not lock.is_locked
    clock.advance(0.2)
    assert lock.is_locked, "never opened: relocks by itself"


def test_opened_door_keeps_lock_released_until_it_closes() -> None:
    clock, door, lock = _door(relock_after_s=2.0)
    lock.unlock()
    assert door.open()
    clock.advance(30)
    assert lock.state is LockState.UNLOCKED
    door.close()
    assert lock.is_locked


def test_sticking_lock_reports_jammed_and_unhealthy() -> None:
    _, door, lock = _door()
    lock.stick(1)
    lock.unlock()
    assert lock.state is LockState.JAMMED
    assert not lock.health().ok
    assert not door.open()
    assert lock.unlock_count == 0
    lock.unlock()
    assert lock.state is LockState.UNLOCKED and lock.unlock_count == 1


def test_stick_probability_is_seeded() -> None:
    outcomes = []
    for _ in range(2):
        _, _, lock = _door(stick_probability=0.5, seed=7)
        for _ in range(20):
            lock.unlock()
            lock.lock()
        outcomes.append([moved for _, _, moved in lock.commands])
    assert outcomes[0] == outcomes[1]
    assert 0 < sum(outcomes[0]) < 40


def test_forced_door_is_reported_as_open_while_locked() -> None:
    _, door, lock = _door()
    events: list[DoorEvent] = []
    door.subscribe(events.append)
    assert door.open(force=True)
    assert door.is_open and lock.is_locked
    assert events == [DoorEvent(0.0, True)]


def test_wait_for_door_runs_on_virtual_time() -> None:
    clock, door, lock = _door()
    lock.unlock(relock_after_s=60)
    clock.call_at(3.0, lambda: door.open() and None)
    assert door.wait_for(True, timeout_s=10)
    assert 3.0 <= clock.monotonic() < 3.1
    assert not door.wait_for(False, timeout_s=2)
    assert clock.monotonic() == pytest.approx(5.0, abs=0.06)


def test_unsubscribe_stops_events() -> None:
    _, door, _ = _door()
    events: list[DoorEvent] = []
    stop = door.subscribe(events.append)
    stop()
    door.open(force=True)
    assert events == []


def _scale(**kw: float) -> tuple[ManualClock, SimulatedShelfScale]:
    clock = ManualClock()
    cfg = ScaleConfig("s1", **kw)  # type: ignore[arg-type]
    return clock, SimulatedShelfScale(cfg, clock, initial_load_g=1000.0)


def test_scale_samples_at_rate_with_configured_noise() -> None:
    clock, scale = _scale(rate_hz=40, noise_g=3.0, seed=1)
    clock.advance(10)
    samples = scale.read_samples()
    assert len(samples) == 400
    grams = np.array([s.grams for s in samples])
    assert abs(grams.mean() - 1000) < 1.0
    assert 2.5 < grams.std() < 3.5
    assert scale.read_samples() == [], "each sample is delivered once"


def test_scale_drift_and_load_ramp() -> None:
    clock, scale = _scale(rate_hz=20, noise_g=0.0, drift_g_per_min=60.0)
    scale.set_load(1000.0, at=1.0)
    scale.set_load(600.0, at=2.0)
    clock.advance(62)
    samples = {round(s.t, 2): s.grams for s in scale.read_samples()}
    assert samples[1.5] == pytest.approx(800 + 1.5, abs=0.01)
    assert samples[61.0] == pytest.approx(600 + 61.0, abs=0.01)


def test_scale_faults_vibration_hand_and_dropout() -> None:
    clock, scale = _scale(rate_hz=50, noise_g=0.5, seed=3)
    scale.inject(ScaleFault("vibration", 1.0, 1.0, 80.0))
    scale.inject(ScaleFault("hand_rest", 3.0, 2.0, 400.0))
    scale.inject(ScaleFault("scale_drop", 6.0, 1.0))
    clock.advance(6.5)
    assert not scale.health().ok
    clock.advance(1.5)
    assert scale.health().ok
    samples = scale.read_samples()
    by_t = np.array([(s.t, s.grams) for s in samples])
    vib = by_t[(by_t[:, 0] >= 1.0) & (by_t[:, 0] < 2.0), 1]
    hand = by_t[(by_t[:, 0] >= 3.5) & (by_t[:, 0] < 4.5), 1]
    assert vib.std() > 30
    assert abs(hand.mean() - 1400) < 15
    assert not np.any((by_t[:, 0] >= 6.0) & (by_t[:, 0] < 7.0)), "no invented readings"


def test_scale_config_is_validated() -> None:
    with pytest.raises(ValueError, match="rate_hz"):
        ScaleConfig("s1", rate_hz=0)
    with pytest.raises(ValueError, match="noise_g"):
        ScaleConfig("s1", noise_g=-1)


def test_front_camera_plays_images_and_drops_out() -> None:
    clock = ManualClock()
    cam = SimulatedFrontCamera(
        clock, [IMAGES / "players.jpg", IMAGES / "yaoming.jpg"], fps=2, drops=[Window(5, 1)]
    )
    first = cam.read()
    clock.advance(0.5)
    second = cam.read()
    assert first is not None and second is not None and first.shape != second.shape
    clock.advance(4.6)
    assert cam.read() is None and not cam.health().ok
    with pytest.raises(ValueError, match="cannot read"):
        SimulatedFrontCamera(clock, [IMAGES / "missing.jpg"])


def test_depth_camera_face_has_relief_and_photo_is_flat() -> None:
    clock = ManualClock()
    face = SimulatedDepthCamera(clock, subject="face").read()
    flat = SimulatedDepthCamera(clock, subject="flat").read()
    assert face is not None and flat is not None and face.dtype == np.uint16
    assert int(face[240, 320]) < int(face[240, 410]) - 10, "nose nearer than cheek"
    assert int(flat[240, 320]) == int(flat[240, 410])
    assert int(face[10, 10]) > int(face[240, 320]) + 500, "subject in front of background"
    with pytest.raises(ValueError, match="subject"):
        SimulatedDepthCamera(clock, subject="ghost")


def test_thermometer_excursion_and_failure() -> None:
    clock = ManualClock()
    probe = SimulatedThermometer(
        clock, 4.0, excursions=[TemperatureExcursion(10, 60, 9.0)], drops=[Window(100, 5)]
    )
    assert probe.read() == pytest.approx(4.0, abs=0.3)
    clock.advance(20)
    assert probe.read() == pytest.approx(9.0, abs=0.3)
    clock.advance(82)
    assert probe.read() is None and not probe.health().ok


def test_keypad_returns_typed_digits_or_times_out() -> None:
    clock = ManualClock()
    pad = SimulatedKeypad(clock, [(2.0, "4321")])
    assert pad.read_digits(4, timeout_s=1.0) is None
    assert pad.read_digits(4, timeout_s=5.0) == "4321"
    with pytest.raises(ValueError, match="digits"):
        pad.type("12a4")

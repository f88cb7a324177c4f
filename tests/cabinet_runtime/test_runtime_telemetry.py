"""Telemetry: every N seconds and on change, from the real drivers and session machine."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_session_machine import make_rig

from cabinet_runtime.hardware.simulated import TemperatureExcursion, Window
from cabinet_runtime.session_model import SessionState
from cabinet_runtime.telemetry import TelemetrySampler


def test_interval_and_changes(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    machine = rig.machine()
    sampler = TelemetrySampler(rig.hardware, machine, interval_s=30.0, wall_clock=lambda: 5.0)
    first = sampler.due()
    assert first is not None  # the first call always reports
    assert first.state == "idle"
    assert first.door == "closed"
    assert first.locked
    assert first.temperature_c is not None
    assert abs(first.temperature_c - 4.0) < 0.5
    assert {s.lane: s.count for s in first.stock} == {"A1": 5, "A2": 4, "B1": 6}
    assert {d.name for d in first.drivers} >= {"door_lock", "front_camera", "scale:s1"}
    assert all(d.ok for d in first.drivers)

    rig.clock.advance(10)
    assert sampler.due() is None  # nothing changed, interval not over
    rig.clock.advance(21)
    assert sampler.due() is not None  # the interval

    rig.world.door.open(force=True)  # door state change
    on_door = sampler.due()
    assert on_door is not None
    assert on_door.door == "open"
    rig.run(machine, 0.1)  # the machine sees the tamper and locks out
    assert machine.state is SessionState.MAINTENANCE
    lockout = sampler.due()
    assert lockout is not None
    assert lockout.state == "maintenance"
    assert lockout.lockout_reason is not None
    assert "tamper" in lockout.lockout_reason


@pytest.mark.parametrize(("celsius", "reports"), [(4.2, False), (6.0, True)])
def test_temperature_change_beyond_the_delta_is_reported(
    tmp_path: Path, celsius: float, reports: bool
) -> None:
    rig = make_rig(tmp_path)
    machine = rig.machine()
    sampler = TelemetrySampler(rig.hardware, machine, interval_s=600.0, temperature_delta_c=0.5)
    assert sampler.due() is not None
    now = rig.clock.monotonic()
    rig.thermometer.add_excursion(TemperatureExcursion(now + 1, 100, celsius))
    rig.clock.advance(2)
    assert (sampler.due() is not None) is reports


def test_a_failing_driver_is_reported_at_once(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    machine = rig.machine()
    sampler = TelemetrySampler(rig.hardware, machine, interval_s=600.0)
    sampler.due()
    rig.front.drop(Window(rig.clock.monotonic(), 60))
    report = sampler.due()
    assert report is not None
    front = next(d for d in report.drivers if d.name == "front_camera")
    assert not front.ok


def test_interval_must_be_positive(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    with pytest.raises(ValueError, match="positive"):
        TelemetrySampler(rig.hardware, rig.machine(), interval_s=0)

"""The [hardware] table becomes a Hardware bundle of working drivers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from biometrics.model_pack import default_pack_dir
from cabinet_runtime.hardware.bundle import Hardware
from cabinet_runtime.hardware.clock import ManualClock, SystemClock
from cabinet_runtime.hardware.factory import HardwareConfigError, build_hardware
from cabinet_runtime.hardware.interfaces import (
    DepthCamera,
    Display,
    DoorLock,
    DoorSensor,
    FrontCamera,
    Keypad,
    ShelfCamera,
    ShelfScale,
    Thermometer,
)
from cabinet_runtime.hardware.opencv_camera import OpenCVCamera

IMAGES = default_pack_dir()  # real photos shipped with the face model pack


def _config(**extra: Any) -> dict[str, Any]:
    return {
        "driver": "simulated",
        "seed": 5,
        "products": [
            {"sku": "A", "name": "A", "unit_weight_g": 300, "weight_tolerance_g": 6, "price": 100},
            {"sku": "B", "name": "B", "unit_weight_g": 120, "weight_tolerance_g": 4, "price": 50},
        ],
        "shelves": [
            {
                "id": "s1",
                "rate_hz": 25,
                "noise_g": 1.5,
                "lanes": [{"id": "l1", "sku": "A", "count": 4}],
            },
            {
                "id": "s2",
                "lanes": [{"id": "l2", "sku": "B", "count": 6}],
                "faults": [{"kind": "scale_drop", "start": 0, "duration_s": 100}],
                "camera_drops": [{"start": 0, "duration_s": 100}],
            },
        ],
        "front_camera": {"images": [str(IMAGES / "players.jpg")]},
        "thermometer": {"celsius": 3.5},
        "lock": {"relock_after_s": 3, "stick_next": 1},
        **extra,
    }


def _members(protocol: type) -> set[str]:
    names: set[str] = set()
    for cls in protocol.__mro__:
        if cls.__module__.startswith("cabinet_runtime"):
            names.update(n for n in vars(cls) if not n.startswith("_"))
    return names


def test_simulated_bundle_satisfies_every_interface() -> None:
    hw = build_hardware(_config())
    assert isinstance(hw, Hardware)
    checks: list[tuple[object, type]] = [
        (hw.lock, DoorLock),
        (hw.door, DoorSensor),
        (hw.front_camera, FrontCamera),
        (hw.thermometer, Thermometer),
        (hw.display, Display),
        (hw.keypad, Keypad),
        (hw.depth_camera, DepthCamera),
        (hw.scales["s1"], ShelfScale),
        (hw.shelf_cameras["s1"], ShelfCamera),
    ]
    for driver, protocol in checks:
        for name in _members(protocol):
            assert hasattr(driver, name), f"{type(driver).__name__} lacks {name}"
    hw.clock.sleep(2.0)
    assert len(hw.scales["s1"].read_samples()) == 50
    frame = hw.front_camera.read()
    assert frame is not None and frame.ndim == 3


def test_health_reports_configured_faults() -> None:
    hw = build_hardware(_config())
    hw.lock.unlock()
    failures = {d.device for d in hw.health().failures}
    assert failures == {"door_lock", "scale:s2", "shelf_camera:s2"}
    assert hw.shelf_cameras["s2"].capture() is None
    assert hw.shelf_cameras["s1"].capture() is not None


def test_simulated_drivers_run_in_real_time_on_the_system_clock() -> None:
    hw = build_hardware(_config(), clock=SystemClock())
    hw.clock.sleep(0.25)
    assert 4 <= len(hw.scales["s1"].read_samples()) <= 12


def test_injected_clock_is_used() -> None:
    clock = ManualClock(100.0)
    hw = build_hardware(_config(), clock=clock)
    assert hw.clock is clock
    clock.advance(1.0)
    assert hw.scales["s1"].read_samples()[-1].t == pytest.approx(101.0)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"driver": "serial"}, "unknown driver"),
        ({"lock": {"relock_after_s": "soon"}}, "hardware"),
        (
            {"shelves": [{"id": "s1", "faults": [{"kind": "melt", "start": 0, "duration_s": 1}]}]},
            "hardware",
        ),
        ({"bogus": 1}, "hardware"),
        ({"driver": "opencv", "front_camera": {}}, "needs a source"),
    ],
)
def test_bad_config_is_a_clear_error(change: dict[str, Any], match: str) -> None:
    with pytest.raises(HardwareConfigError, match=match):
        build_hardware(_config(**change))


def test_opencv_driver_reads_a_video_file_and_loops(tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for value in (40, 120, 200):
        writer.write(np.full((48, 64, 3), value, dtype=np.uint8))
    writer.release()
    hw = build_hardware(_config(driver="opencv", front_camera={"source": str(video)}))
    cam = hw.front_camera
    assert isinstance(cam, OpenCVCamera)
    means = []
    for _ in range(4):
        frame = cam.read()
        assert frame is not None
        means.append(float(frame.mean()))
    assert means[0] < means[1] < means[2]
    assert means[3] == pytest.approx(means[0], abs=5), "the file replays from the start"
    assert cam.health().ok
    cam.close()


def test_opencv_camera_without_source_is_unhealthy(tmp_path: Path) -> None:
    cam = OpenCVCamera(str(tmp_path / "missing.avi"))
    assert cam.read() is None
    assert not cam.health().ok

"""Builds the ``Hardware`` bundle from the [hardware] table of cabinet.toml.

``driver = "simulated"`` gives a fully simulated cabinet (shelves stocked from
the table's ``products`` and ``shelves``); ``driver = "opencv"`` is the same
but with the front camera (and any shelf camera that names a ``source``) read
through OpenCV ``VideoCapture`` from a device index or a video file. Faults
are configuration: a sticking lock, noisy or drifting scales, temperature
excursions, camera drop-outs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from cabinet_runtime.hardware.bundle import Hardware
from cabinet_runtime.hardware.clock import ManualClock
from cabinet_runtime.hardware.interfaces import Clock, FrontCamera, ShelfCamera
from cabinet_runtime.hardware.opencv_camera import OpenCVCamera, OpenCVShelfCamera
from cabinet_runtime.hardware.simulated import (
    SimulatedDepthCamera,
    SimulatedDisplay,
    SimulatedFrontCamera,
    SimulatedKeypad,
    SimulatedThermometer,
    TemperatureExcursion,
    Window,
)
from cabinet_runtime.hardware.simulated_scale import ScaleConfig, ScaleFault, ScaleFaultKind


class HardwareConfigError(ValueError):
    """The [hardware] table cannot be turned into drivers."""


class _Lock(msgspec.Struct, forbid_unknown_fields=True):
    relock_after_s: float = 10.0
    stick_next: int = 0
    stick_probability: float = 0.0


class _WindowCfg(msgspec.Struct, forbid_unknown_fields=True):
    start: float
    duration_s: float


class _FrontCamera(msgspec.Struct, forbid_unknown_fields=True):
    driver: str = "simulated"
    source: int | str | None = None
    images: list[str] = msgspec.field(default_factory=list)
    fps: float = 10.0
    drops: list[_WindowCfg] = msgspec.field(default_factory=list)


class _DepthCamera(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool = True
    subject: str = "none"


class _Excursion(msgspec.Struct, forbid_unknown_fields=True):
    start: float
    duration_s: float
    celsius: float


class _Thermometer(msgspec.Struct, forbid_unknown_fields=True):
    celsius: float = 4.0
    noise_c: float = 0.05
    excursions: list[_Excursion] = msgspec.field(default_factory=list)
    drops: list[_WindowCfg] = msgspec.field(default_factory=list)


class _ScaleFaultCfg(msgspec.Struct, forbid_unknown_fields=True):
    kind: ScaleFaultKind
    start: float
    duration_s: float
    magnitude_g: float = 0.0


class _Lane(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    sku: str
    count: int


class _Shelf(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    rate_hz: float = 30.0
    noise_g: float = 1.0
    drift_g_per_min: float = 0.0
    lanes: list[_Lane] = msgspec.field(default_factory=list)
    faults: list[_ScaleFaultCfg] = msgspec.field(default_factory=list)
    camera_source: int | str | None = None
    camera_drops: list[_WindowCfg] = msgspec.field(default_factory=list)


class _Product(msgspec.Struct, forbid_unknown_fields=True):
    sku: str
    name: str
    unit_weight_g: float
    weight_tolerance_g: float
    price: int
    image: str | None = None


class _HardwareCfg(msgspec.Struct, forbid_unknown_fields=True):
    driver: str = "simulated"
    seed: int = 0
    currency: str = "USD"
    lock: _Lock = msgspec.field(default_factory=_Lock)
    front_camera: _FrontCamera = msgspec.field(default_factory=_FrontCamera)
    depth_camera: _DepthCamera = msgspec.field(default_factory=_DepthCamera)
    thermometer: _Thermometer = msgspec.field(default_factory=_Thermometer)
    keypad: list[tuple[float, str]] = msgspec.field(default_factory=list)
    products: list[_Product] = msgspec.field(default_factory=list)
    shelves: list[_Shelf] = msgspec.field(default_factory=list)


def _windows(items: list[_WindowCfg]) -> list[Window]:
    return [Window(w.start, w.duration_s) for w in items]


def build_hardware(
    config: Mapping[str, Any], clock: Clock | None = None, base_dir: Path | None = None
) -> Hardware:
    """Drivers for the [hardware] table. Without a clock, simulated drivers
    run on a ``ManualClock`` the caller can advance."""
    # imported here: the simulated world builds on the drivers in this package
    from cabinet_runtime.picks.planogram import LanePlan, Planogram, Product, ShelfPlan
    from cabinet_runtime.simulation.world import build_cabinet

    try:
        cfg = msgspec.convert(dict(config), _HardwareCfg)
    except msgspec.ValidationError as exc:
        raise HardwareConfigError(f"[hardware]: {exc}") from exc
    if cfg.driver not in ("simulated", "opencv"):
        raise HardwareConfigError(f"[hardware]: unknown driver {cfg.driver!r}")
    run_clock: Clock = clock if clock is not None else ManualClock()
    planogram = Planogram(
        currency=cfg.currency,
        products=[Product(**msgspec.structs.asdict(p)) for p in cfg.products],
        shelves=[
            ShelfPlan(s.id, [LanePlan(ln.id, ln.sku, ln.count) for ln in s.lanes])
            for s in cfg.shelves
        ],
    )
    scale_cfgs = {
        s.id: ScaleConfig(s.id, s.rate_hz, s.noise_g, s.drift_g_per_min, cfg.seed + i)
        for i, s in enumerate(cfg.shelves)
    }
    world = build_cabinet(
        planogram, scale_cfgs, run_clock, cfg.seed, base_dir, cfg.lock.relock_after_s
    )
    world.lock.stick(cfg.lock.stick_next)
    shelf_cameras: dict[str, ShelfCamera] = {}
    for s in cfg.shelves:
        shelf = world.shelves[s.id]
        for f in s.faults:
            shelf.scale.inject(ScaleFault(f.kind, f.start, f.duration_s, f.magnitude_g))
        for w in _windows(s.camera_drops):
            shelf.camera.drop(w)
        if cfg.driver == "opencv" and s.camera_source is not None:
            shelf_cameras[s.id] = OpenCVShelfCamera(s.id, s.camera_source)
        else:
            shelf_cameras[s.id] = shelf.camera
    thermo = cfg.thermometer
    return Hardware(
        clock=run_clock,
        lock=world.lock,
        door=world.door,
        front_camera=_front_camera(cfg, run_clock, base_dir),
        thermometer=SimulatedThermometer(
            run_clock,
            thermo.celsius,
            thermo.noise_c,
            [TemperatureExcursion(e.start, e.duration_s, e.celsius) for e in thermo.excursions],
            _windows(thermo.drops),
            cfg.seed,
        ),
        display=SimulatedDisplay(),
        keypad=SimulatedKeypad(run_clock, cfg.keypad),
        scales={s.id: world.shelves[s.id].scale for s in cfg.shelves},
        shelf_cameras=shelf_cameras,
        depth_camera=(
            SimulatedDepthCamera(run_clock, cfg.depth_camera.subject)
            if cfg.depth_camera.enabled
            else None
        ),
    )


def _front_camera(cfg: _HardwareCfg, clock: Clock, base_dir: Path | None) -> FrontCamera:
    front = cfg.front_camera
    if cfg.driver == "opencv" or front.driver == "opencv":
        if front.source is None:
            raise HardwareConfigError("[hardware.front_camera]: opencv needs a source")
        source = front.source
        if isinstance(source, str) and base_dir is not None and not Path(source).is_absolute():
            source = str(base_dir / source)
        return OpenCVCamera(source)
    images = [Path(p) if base_dir is None else base_dir / p for p in front.images]
    return SimulatedFrontCamera(clock, images, front.fps, _windows(front.drops))

"""A simulated cabinet running the real cabinet runtime, in this process.

The runtime sees only its hardware interfaces. Thin timing wrappers around
three drivers record when the front camera delivered a frame, when the lock
was driven open and what the display said, so visits can be measured from
the cabinet's side: frame captured → unlock, door closed → receipt shown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biometrics.attacks.depth_maps import DepthSensor, genuine_depth
from biometrics.face_geometry import ReliefShape
from cabinet_runtime.config import load_config
from cabinet_runtime.hardware.bundle import Hardware
from cabinet_runtime.hardware.clock import ManualClock
from cabinet_runtime.hardware.interfaces import BgrFrame, DepthMap, DeviceHealth, LockState
from cabinet_runtime.hardware.simulated import (
    SimulatedDisplay,
    SimulatedKeypad,
    SimulatedThermometer,
)
from cabinet_runtime.hardware.simulated_scale import ScaleConfig
from cabinet_runtime.identity import IdentityStore, provision
from cabinet_runtime.runtime import CabinetRuntime
from cabinet_runtime.session_model import SessionState
from cabinet_runtime.simulation.world import SimulatedCabinet, build_cabinet
from facepay_demo.catalog import PLANOGRAM, hardware_toml
from facepay_demo.faces import FrontFrame

DEPTH_SIZE = (480, 640)
HEAD = ReliefShape()  # one typical head shape: the scene is the same person throughout
SENSOR = DepthSensor(noise_mm_at_500=0.5, dropout=0.005)  # a good structured-light camera


class Scene:
    """What stands in front of the cabinet, as its front and depth cameras see it.

    A simulated driver pair: the front camera plays frames in a loop; the depth
    camera, registered to it, returns the depth map of the frame last read (a
    real head where the frame shows a face, the wall elsewhere). It also
    notes when the last frame was captured, for latency figures.
    """

    def __init__(self, clock: ManualClock, fps: float = 30.0, seed: int = 0) -> None:
        self._clock = clock
        self._fps = fps
        self._rng = np.random.default_rng(seed)
        self._frames: list[BgrFrame] = []
        self._depths: list[DepthMap] = []
        self._start = 0.0
        self._index = 0
        self.last_frame_at = 0.0

    def play(self, frames: Sequence[FrontFrame | BgrFrame]) -> None:
        self._frames, self._depths = [], []
        for frame in frames:
            if isinstance(frame, FrontFrame):
                self._frames.append(frame.image)
                depth = genuine_depth(
                    DEPTH_SIZE, frame.kps, self._rng, distance_mm=600, shape=HEAD, sensor=SENSOR
                )
                self._depths.append(np.round(depth).astype(np.uint16))
            else:  # a phone's screen held up: flat, close
                self._frames.append(frame)
                self._depths.append(np.full(DEPTH_SIZE, 1800, dtype=np.uint16))
        self._start = self._clock.monotonic()

    def read(self) -> BgrFrame | None:
        if not self._frames:
            return None
        self._index = int((self._clock.monotonic() - self._start) * self._fps) % len(self._frames)
        self.last_frame_at = time.perf_counter()
        return self._frames[self._index].copy()

    def read_depth(self) -> DepthMap | None:
        if not self._depths:
            return np.full(DEPTH_SIZE, 1800, dtype=np.uint16)
        return self._depths[self._index]

    def health(self) -> DeviceHealth:
        return DeviceHealth("front_camera", True)


class SceneDepth:
    def __init__(self, scene: Scene) -> None:
        self.scene = scene

    def read(self) -> DepthMap | None:
        return self.scene.read_depth()

    def health(self) -> DeviceHealth:
        return DeviceHealth("depth_camera", True)


class TimedLock:
    def __init__(self, lock: Any) -> None:
        self.inner = lock
        self.unlocked_at: list[float] = []

    def lock(self) -> None:
        self.inner.lock()

    def unlock(self, relock_after_s: float | None = None) -> None:
        self.unlocked_at.append(time.perf_counter())
        self.inner.unlock(relock_after_s)

    @property
    def state(self) -> LockState:
        return self.inner.state  # type: ignore[no-any-return]

    @property
    def is_locked(self) -> bool:
        return bool(self.inner.is_locked)

    def health(self) -> DeviceHealth:
        return self.inner.health()  # type: ignore[no-any-return]


@dataclass
class TimedDisplay:
    inner: SimulatedDisplay
    shown: list[tuple[float, str]] = field(default_factory=list)

    def show(self, message: str) -> None:
        self.shown.append((time.perf_counter(), message))
        self.inner.show(message)

    def health(self) -> DeviceHealth:
        return self.inner.health()


def cabinet_toml(state_dir: Path, gateway_url: str | None = None) -> str:
    return (
        "\n".join(
            [
                "[cabinet]",
                f'state_dir = "{state_dir}"',
                *([f'gateway_url = "{gateway_url}"'] if gateway_url else []),
                "[link]",
                "backoff_initial_s = 0.1",
                "backoff_max_s = 1.0",
                "resend_after_s = 2.0",
                "[session]",
                "tick_s = 0.02",
                "unlock_s = 30.0",
                "settle_s = 30.0",
                "identify_s = 30.0",
                "[telemetry]",
                "interval_s = 30.0",
                "[identification]",
                "faces = true",
                "frames_required = 3",
                "interval_s = 0.03",
                *hardware_toml(),
            ]
        )
        + "\n"
    )


@dataclass
class CabinetRig:
    runtime: CabinetRuntime
    world: SimulatedCabinet
    clock: ManualClock
    scene: Scene
    lock: TimedLock
    display: TimedDisplay
    keypad: SimulatedKeypad
    task: asyncio.Task[None] | None = None

    @property
    def state(self) -> SessionState:
        return self.runtime.machine.state

    async def do(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Act on the simulated world from the runtime's hardware thread."""
        return await self.runtime.call(fn, *args)

    async def show(self, frames: Sequence[FrontFrame | BgrFrame]) -> None:
        await self.do(self.scene.play, list(frames))

    async def start(self) -> None:
        self.task = asyncio.create_task(self.runtime.run())
        if not await self.runtime.link.wait_up(30):
            raise RuntimeError(f"the cabinet could not connect: {self.runtime.link.last_error}")

    async def stop(self) -> None:
        self.runtime.stop()
        if self.task is not None:
            await asyncio.wait_for(self.task, 30)


def provision_cabinet(state_dir: Path, server_url: str, code: str) -> None:
    """What `cabinet-runtime provision` does: a device key, registered with the code."""
    provision(IdentityStore(state_dir), server_url, code)


def build_rig(
    state_dir: Path, seed: int = 11, identifier: Any = None, gateway_url: str | None = None
) -> CabinetRig:
    """A cabinet on simulated hardware; call ``start`` to run it. ``gateway_url``
    overrides the address learnt at provisioning (e.g. through a proxy)."""
    config_path = state_dir / "cabinet.toml"
    config_path.write_text(cabinet_toml(state_dir, gateway_url))
    clock = ManualClock(start=0.0)
    scales = {
        shelf.id: ScaleConfig(shelf.id, 30.0, 1.0, 0.0, seed + i)
        for i, shelf in enumerate(PLANOGRAM.shelves)
    }
    world = build_cabinet(PLANOGRAM, scales, clock, seed)
    scene = Scene(clock, seed=seed)
    lock = TimedLock(world.lock)
    display = TimedDisplay(SimulatedDisplay())
    keypad = SimulatedKeypad(clock)
    hardware = Hardware(
        clock=clock,
        lock=lock,
        door=world.door,
        front_camera=scene,
        thermometer=SimulatedThermometer(clock, 4.0, 0.05, seed=seed),
        display=display,
        keypad=keypad,
        scales={sid: shelf.scale for sid, shelf in world.shelves.items()},
        shelf_cameras={sid: shelf.camera for sid, shelf in world.shelves.items()},
        depth_camera=SceneDepth(scene),
    )
    clock.advance(11)  # the scales have an idle reference before the first visit
    runtime = CabinetRuntime(load_config(config_path), hardware=hardware, identifier=identifier)
    return CabinetRig(runtime, world, clock, scene, lock, display, keypad)

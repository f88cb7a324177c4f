"""The small interfaces through which the runtime reaches cabinet hardware.

Code above this layer (session state machine, pick recognition, telemetry)
sees only these protocols, never a concrete driver, so a simulated cabinet and
a real one are interchangeable. Time is injected through ``Clock`` so that a
simulation can run faster than real time.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

BgrFrame = NDArray[np.uint8]
"""An OpenCV image: height x width x 3, uint8, BGR channel order."""

DepthMap = NDArray[np.uint16]
"""A depth image: height x width, uint16 millimetres, 0 where depth is unknown."""


class Clock(Protocol):
    """Monotonic time in seconds; ``sleep`` may be virtual in a simulation."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """One device's state as reported to telemetry and the state machine."""

    device: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HardwareHealth:
    """Health of every device of a cabinet at one moment."""

    devices: tuple[DeviceHealth, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.devices)

    @property
    def failures(self) -> tuple[DeviceHealth, ...]:
        return tuple(d for d in self.devices if not d.ok)


@runtime_checkable
class HealthReporting(Protocol):
    """Every driver can say whether it currently works."""

    def health(self) -> DeviceHealth: ...


class LockState(enum.Enum):
    LOCKED = "locked"
    UNLOCKED = "unlocked"
    JAMMED = "jammed"
    """The bolt did not move when commanded (a sticking lock)."""


class DoorLock(HealthReporting, Protocol):
    """An electric lock. ``unlock`` relocks by itself after ``relock_after_s``
    unless the door has been opened (then it relocks when the door closes)."""

    def lock(self) -> None: ...

    def unlock(self, relock_after_s: float | None = None) -> None: ...

    @property
    def state(self) -> LockState: ...

    @property
    def is_locked(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class DoorEvent:
    """The door changed state at monotonic time ``t``."""

    t: float
    is_open: bool


DoorListener = Callable[[DoorEvent], None]


class DoorSensor(HealthReporting, Protocol):
    """A reed switch on the door."""

    @property
    def is_open(self) -> bool: ...

    def subscribe(self, listener: DoorListener) -> Callable[[], None]:
        """Call ``listener`` on every open/close; returns an unsubscribe function."""
        ...

    def wait_for(self, is_open: bool, timeout_s: float) -> bool:
        """Block (on the injected clock) until the door is in the given state.

        Returns False if the timeout passed first.
        """
        ...


class FrontCamera(HealthReporting, Protocol):
    """The camera facing the customer."""

    def read(self) -> BgrFrame | None:
        """The latest frame, or None when no frame is available (camera lost)."""
        ...


class DepthCamera(HealthReporting, Protocol):
    """A depth sensor aligned with the front camera."""

    def read(self) -> DepthMap | None: ...


@dataclass(frozen=True, slots=True)
class ScaleSample:
    """One load-cell reading: monotonic time in seconds, load in grams."""

    t: float
    grams: float


class ShelfScale(HealthReporting, Protocol):
    """The load cell under one shelf, sampled at ``rate_hz`` (20-60 Hz)."""

    @property
    def shelf_id(self) -> str: ...

    @property
    def rate_hz(self) -> float: ...

    def read_samples(self) -> list[ScaleSample]:
        """Every sample taken since the previous call, oldest first.

        A scale that has dropped out returns no samples for that span (and
        reports itself unhealthy); callers see gaps, never invented readings.
        """
        ...


class ShelfCamera(HealthReporting, Protocol):
    """A camera looking down on one shelf."""

    @property
    def shelf_id(self) -> str: ...

    def capture(self) -> BgrFrame | None:
        """A still of the shelf, or None when the camera is not delivering."""
        ...


class Thermometer(HealthReporting, Protocol):
    def read(self) -> float | None:
        """Compartment temperature in degrees Celsius, None when the probe fails."""
        ...


class Display(HealthReporting, Protocol):
    def show(self, message: str) -> None: ...


class Keypad(HealthReporting, Protocol):
    def read_digits(self, count: int, timeout_s: float) -> str | None:
        """Up to ``count`` digits typed by the customer; None on timeout."""
        ...

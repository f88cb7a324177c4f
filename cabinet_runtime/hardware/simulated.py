"""Simulated drivers for every interface, configurable to misbehave on purpose.

In the spirit of OctoPrint's virtual printer: each driver takes its settings
(and faults) from configuration or from ``inject``-style calls made by a test
or the simulator, never from hard-coded behaviour. Time comes from the
injected clock. The simulated scale lives in ``simulated_scale``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cabinet_runtime.hardware.interfaces import (
    BgrFrame,
    Clock,
    DepthMap,
    DeviceHealth,
    DoorEvent,
    DoorListener,
    LockState,
)

_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class Window:
    """A span of simulated time during which a fault is active."""

    start: float
    duration_s: float

    def active(self, t: float) -> bool:
        return self.start <= t < self.start + self.duration_s


class SimulatedDoorSensor:
    """The physical door. ``open``/``close`` are the customer's hands; the
    sensor reports what happened, including a door forced while locked."""

    def __init__(self, clock: Clock, bolted: Callable[[], bool] | None = None) -> None:
        self._clock = clock
        self._open = False
        self._listeners: list[DoorListener] = []
        self._bolted = bolted
        self.failed = False

    def attach_lock(self, bolted: Callable[[], bool]) -> None:
        """``bolted()`` says whether the bolt physically holds the door."""
        self._bolted = bolted

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self, force: bool = False) -> bool:
        """Pull the handle; a locked door opens only when forced (tamper)."""
        if self._open:
            return True
        locked = self._bolted is not None and self._bolted()
        if locked and not force:
            return False
        self._set(True)
        return True

    def close(self) -> None:
        if self._open:
            self._set(False)

    def _set(self, is_open: bool) -> None:
        self._open = is_open
        event = DoorEvent(self._clock.monotonic(), is_open)
        for listener in list(self._listeners):
            listener(event)

    def subscribe(self, listener: DoorListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def wait_for(self, is_open: bool, timeout_s: float) -> bool:
        deadline = self._clock.monotonic() + timeout_s
        while self._open != is_open:
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                return False
            self._clock.sleep(min(_POLL_S, remaining))
        return True

    def health(self) -> DeviceHealth:
        return DeviceHealth("door_sensor", not self.failed, "sensor failed" if self.failed else "")


class SimulatedDoorLock:
    """An electric lock with auto-relock that can be told to stick.

    ``stick_next`` makes the next N commands fail (the bolt does not move and
    the lock reports JAMMED); ``stick_probability`` fails commands at random
    from a seeded generator.
    """

    def __init__(
        self,
        clock: Clock,
        door: SimulatedDoorSensor,
        relock_after_s: float = 10.0,
        stick_next: int = 0,
        stick_probability: float = 0.0,
        seed: int = 0,
    ) -> None:
        self._clock = clock
        self._door = door
        self._default_relock_s = relock_after_s
        self._bolted = True
        self._jammed = False
        self._relock_at: float | None = None
        self._opened_since_unlock = False
        self._stick_next = stick_next
        self._stick_probability = stick_probability
        self._rng = np.random.default_rng(seed)
        self.commands: list[tuple[float, str, bool]] = []
        """(time, "lock"|"unlock", moved) for every command: the audit a test reads."""
        door.attach_lock(self._bolt_holds)
        door.subscribe(self._on_door)

    def stick(self, commands: int = 1) -> None:
        self._stick_next += commands

    def _sticks(self) -> bool:
        if self._stick_next > 0:
            self._stick_next -= 1
            return True
        return bool(self._rng.random() < self._stick_probability)

    def _command(self, name: str, bolted: bool) -> None:
        self._settle()
        moved = not self._sticks()
        self.commands.append((self._clock.monotonic(), name, moved))
        self._jammed = not moved
        if moved:
            self._bolted = bolted

    def lock(self) -> None:
        self._command("lock", True)
        self._relock_at = None

    def unlock(self, relock_after_s: float | None = None) -> None:
        self._command("unlock", False)
        if not self._bolted:
            delay = self._default_relock_s if relock_after_s is None else relock_after_s
            self._relock_at = self._clock.monotonic() + delay
            self._opened_since_unlock = False

    def _on_door(self, event: DoorEvent) -> None:
        if event.is_open:
            self._opened_since_unlock = True
        elif not self._bolted and not self._jammed:
            self._bolted = True  # a closing door engages the latch
            self._relock_at = None

    def _settle(self) -> None:
        if (
            not self._bolted
            and self._relock_at is not None
            and not self._opened_since_unlock
            and self._clock.monotonic() >= self._relock_at
        ):
            self._bolted = True
            self._relock_at = None

    def _bolt_holds(self) -> bool:
        self._settle()
        return self._bolted

    @property
    def state(self) -> LockState:
        self._settle()
        if self._jammed:
            return LockState.JAMMED
        return LockState.LOCKED if self._bolted else LockState.UNLOCKED

    @property
    def is_locked(self) -> bool:
        return self.state is LockState.LOCKED

    @property
    def unlock_count(self) -> int:
        return sum(1 for _, name, moved in self.commands if name == "unlock" and moved)

    def health(self) -> DeviceHealth:
        if self.state is LockState.JAMMED:
            return DeviceHealth("door_lock", False, "bolt did not move on the last command")
        return DeviceHealth("door_lock", True)


class _Droppable:
    """Shared drop-out behaviour of simulated cameras and probes."""

    def __init__(self, clock: Clock, name: str, drops: Sequence[Window] = ()) -> None:
        self._clock = clock
        self._name = name
        self._drops = list(drops)
        self.dropped = False

    def drop(self, window: Window) -> None:
        self._drops.append(window)

    def _is_down(self) -> bool:
        now = self._clock.monotonic()
        return self.dropped or any(w.active(now) for w in self._drops)

    def health(self) -> DeviceHealth:
        if self._is_down():
            return DeviceHealth(self._name, False, "no data from device")
        return DeviceHealth(self._name, True)


class SimulatedFrontCamera(_Droppable):
    """Plays image files (or in-memory frames) in a loop, one per ``fps`` tick."""

    def __init__(
        self,
        clock: Clock,
        images: Sequence[Path | BgrFrame] = (),
        fps: float = 10.0,
        drops: Sequence[Window] = (),
    ) -> None:
        super().__init__(clock, "front_camera", drops)
        self._frames: list[BgrFrame] = [self._load(img) for img in images]
        self._fps = fps
        self._start = clock.monotonic()

    @staticmethod
    def _load(image: Path | BgrFrame) -> BgrFrame:
        if isinstance(image, np.ndarray):
            return image
        frame = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if frame is None:
            raise ValueError(f"front camera: cannot read image {image}")
        return np.asarray(frame, dtype=np.uint8)

    def play(self, images: Sequence[Path | BgrFrame]) -> None:
        self._frames = [self._load(img) for img in images]
        self._start = self._clock.monotonic()

    def read(self) -> BgrFrame | None:
        if self._is_down() or not self._frames:
            return None
        index = int((self._clock.monotonic() - self._start) * self._fps) % len(self._frames)
        return self._frames[index].copy()


class SimulatedDepthCamera(_Droppable):
    """A synthetic depth map: a background plane and, when a subject stands in
    front, either a face-like relief ("face") or a flat sheet ("flat", e.g. a
    photo held up)."""

    def __init__(
        self,
        clock: Clock,
        subject: str = "none",
        size: tuple[int, int] = (480, 640),
        background_mm: int = 1500,
        subject_mm: int = 600,
        drops: Sequence[Window] = (),
    ) -> None:
        super().__init__(clock, "depth_camera", drops)
        if subject not in ("none", "face", "flat"):
            raise ValueError(f"depth camera: unknown subject {subject!r}")
        self.subject = subject
        self._size = size
        self._background = background_mm
        self._near = subject_mm

    def read(self) -> DepthMap | None:
        if self._is_down():
            return None
        h, w = self._size
        depth = np.full((h, w), self._background, dtype=np.float64)
        if self.subject != "none":
            yy, xx = np.mgrid[0:h, 0:w]
            ry, rx = h * 0.3, w * 0.18
            inside = ((yy - h / 2) / ry) ** 2 + ((xx - w / 2) / rx) ** 2
            mask = inside <= 1.0
            relief = 40.0 * np.sqrt(np.clip(1.0 - inside, 0.0, 1.0))
            near = self._near - (relief if self.subject == "face" else 0.0)
            depth = np.where(mask, near, depth)
        return np.asarray(depth, dtype=np.uint16)


class SimulatedShelfCamera(_Droppable):
    """Frames come from a scene renderer supplied by the simulated world."""

    def __init__(
        self,
        clock: Clock,
        shelf_id: str,
        render: Callable[[], BgrFrame],
        drops: Sequence[Window] = (),
    ) -> None:
        super().__init__(clock, f"shelf_camera:{shelf_id}", drops)
        self._shelf_id = shelf_id
        self._render = render

    @property
    def shelf_id(self) -> str:
        return self._shelf_id

    def capture(self) -> BgrFrame | None:
        return None if self._is_down() else self._render()


@dataclass(frozen=True, slots=True)
class TemperatureExcursion:
    start: float
    duration_s: float
    celsius: float


class SimulatedThermometer(_Droppable):
    def __init__(
        self,
        clock: Clock,
        celsius: float = 4.0,
        noise_c: float = 0.05,
        excursions: Sequence[TemperatureExcursion] = (),
        drops: Sequence[Window] = (),
        seed: int = 0,
    ) -> None:
        super().__init__(clock, "thermometer", drops)
        self.celsius = celsius
        self._noise = noise_c
        self._excursions = list(excursions)
        self._rng = np.random.default_rng(seed)

    def add_excursion(self, excursion: TemperatureExcursion) -> None:
        self._excursions.append(excursion)

    def read(self) -> float | None:
        if self._is_down():
            return None
        now = self._clock.monotonic()
        value = self.celsius
        for e in self._excursions:
            if e.start <= now < e.start + e.duration_s:
                value = e.celsius
        return round(value + self._noise * float(self._rng.standard_normal()), 2)


@dataclass
class SimulatedDisplay:
    """Remembers what it showed, newest last."""

    messages: list[str] = field(default_factory=list)

    def show(self, message: str) -> None:
        self.messages.append(message)

    def health(self) -> DeviceHealth:
        return DeviceHealth("display", True)


class SimulatedKeypad:
    """Digits typed at scripted times; ``read_digits`` waits on the clock."""

    def __init__(self, clock: Clock, entries: Sequence[tuple[float, str]] = ()) -> None:
        self._clock = clock
        self._entries = sorted(entries)

    def type(self, digits: str, at: float | None = None) -> None:
        if not digits.isdigit():
            raise ValueError("keypad accepts digits only")
        t = self._clock.monotonic() if at is None else at
        self._entries = sorted([*self._entries, (t, digits)])

    def read_digits(self, count: int, timeout_s: float) -> str | None:
        deadline = self._clock.monotonic() + timeout_s
        while True:
            now = self._clock.monotonic()
            if self._entries and self._entries[0][0] <= now:
                _, digits = self._entries.pop(0)
                return digits[:count]
            if now >= deadline:
                return None
            self._clock.sleep(min(_POLL_S, deadline - now))

    def health(self) -> DeviceHealth:
        return DeviceHealth("keypad", True)

"""Telemetry: temperature, door, lock, session state, stock per lane, driver health.

Sent every ``interval_s`` and, between those, as soon as something an operator
cares about changed (door, lock, state, lockout, stock, a driver's health, the
temperature by more than ``temperature_delta_c``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from cabinet_runtime import protocol as p
from cabinet_runtime.hardware.bundle import Hardware
from cabinet_runtime.session_model import Lockout, SessionState


class SessionView(Protocol):
    @property
    def state(self) -> SessionState: ...

    @property
    def lockout(self) -> Lockout | None: ...

    def stock(self) -> tuple[p.LaneStock, ...]: ...


class TelemetrySampler:
    def __init__(
        self,
        hardware: Hardware,
        session: SessionView,
        *,
        interval_s: float = 60.0,
        temperature_delta_c: float = 0.5,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("telemetry interval must be positive")
        self._hw = hardware
        self._session = session
        self.interval_s = interval_s
        self._delta = temperature_delta_c
        self._wall = wall_clock
        self._last: p.Telemetry | None = None
        self._last_at = 0.0

    def sample(self) -> p.Telemetry:
        lockout = self._session.lockout
        door = self._hw.door
        health = self._hw.health()
        return p.Telemetry(
            at=self._wall(),
            temperature_c=self._hw.thermometer.read(),
            door=("open" if door.is_open else "closed") if door.health().ok else "unknown",
            locked=self._hw.lock.is_locked,
            state=str(self._session.state),
            lockout_reason=lockout.reason if lockout else None,
            stock=self._session.stock(),
            drivers=tuple(
                p.DriverHealth(name=d.device, ok=d.ok, detail=d.detail) for d in health.devices
            ),
        )

    def _changed(self, now: p.Telemetry, before: p.Telemetry) -> bool:
        if (now.door, now.locked, now.state, now.lockout_reason, now.stock, now.drivers) != (
            before.door,
            before.locked,
            before.state,
            before.lockout_reason,
            before.stock,
            before.drivers,
        ):
            return True
        if (now.temperature_c is None) != (before.temperature_c is None):
            return True
        if now.temperature_c is not None and before.temperature_c is not None:
            return abs(now.temperature_c - before.temperature_c) >= self._delta
        return False

    def due(self) -> p.Telemetry | None:
        """A telemetry message when the interval passed or something changed, else None."""
        now = self._hw.clock.monotonic()
        current = self.sample()
        last = self._last
        if last is None or now - self._last_at >= self.interval_s or self._changed(current, last):
            self._last, self._last_at = current, now
            return current
        return None

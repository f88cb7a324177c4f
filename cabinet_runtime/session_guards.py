"""Maintenance lockout: the conditions that call for it, and its stored record."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from cabinet_runtime.hardware.bundle import Hardware
from cabinet_runtime.hardware.interfaces import DeviceHealth
from cabinet_runtime.session_model import Lockout
from cabinet_runtime.store import LocalStore


class ColdChainWatch:
    """The cold-chain rule: above ``limit_c`` for ``duration_s`` without a break.

    A reading at or below the limit restarts the clock; a failed probe (None)
    neither starts nor breaks it.
    """

    def __init__(self, limit_c: float, duration_s: float) -> None:
        self.limit_c = limit_c
        self.duration_s = duration_s
        self._warm_since: float | None = None

    def update(self, celsius: float | None, now: float) -> str | None:
        """The lockout reason once the rule is broken, else None."""
        if celsius is None:
            return None
        if celsius <= self.limit_c:
            self._warm_since = None
            return None
        if self._warm_since is None:
            self._warm_since = now
        if now - self._warm_since >= self.duration_s:
            return f"cold chain: above {self.limit_c} °C for {self.duration_s / 60:.0f} min"
        return None

    def reset(self) -> None:
        self._warm_since = None


def service_failures(hardware: Hardware) -> list[DeviceHealth]:
    """Devices without which a purchase cannot be run or judged: cameras and scales
    that stopped delivering, a lock that did not move, a door sensor that failed."""
    devices = (
        hardware.lock.health(),
        hardware.door.health(),
        hardware.front_camera.health(),
        *(scale.health() for scale in hardware.scales.values()),
        *(camera.health() for camera in hardware.shelf_cameras.values()),
    )
    return [health for health in devices if not health.ok]


def describe(failures: list[DeviceHealth]) -> str:
    return "hardware: " + ", ".join(f"{h.device} {h.detail}".strip() for h in failures)


class LockoutBook:
    """The lockout and a lockout waiting for the open session to end, both stored
    so that a restart neither forgets nor lifts them."""

    PENDING_KEY = "lockout_pending"

    def __init__(self, store: LocalStore, wall_clock: Callable[[], float]) -> None:
        self._store = store
        self._wall = wall_clock

    @property
    def current(self) -> Lockout | None:
        raw = self._store.get(LocalStore.LOCKOUT_KEY)
        return None if raw is None else msgspec.json.decode(raw, type=Lockout)

    @property
    def pending(self) -> str | None:
        raw = self._store.get(self.PENDING_KEY)
        return None if raw is None else raw.decode()

    def defer(self, reason: str) -> None:
        """Remember the first reason given while a session is open."""
        if self.pending is None:
            self._store.put(self.PENDING_KEY, reason.encode())

    def enter(self, reason: str) -> None:
        self._store.put(
            LocalStore.LOCKOUT_KEY,
            msgspec.json.encode(Lockout(reason=reason, since_wall=self._wall())),
        )
        self._store.delete(self.PENDING_KEY)

    def clear(self) -> None:
        self._store.delete(LocalStore.LOCKOUT_KEY)
        self._store.delete(self.PENDING_KEY)

"""Conditions that put the cabinet into maintenance lockout, judged from the hardware."""

from __future__ import annotations

from cabinet_runtime.hardware.bundle import Hardware
from cabinet_runtime.hardware.interfaces import DeviceHealth


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


def sensing_failures(hardware: Hardware) -> list[DeviceHealth]:
    """Cameras and scales that stopped delivering: no purchase can be judged without them."""
    devices = (
        hardware.front_camera.health(),
        *(scale.health() for scale in hardware.scales.values()),
        *(camera.health() for camera in hardware.shelf_cameras.values()),
    )
    return [health for health in devices if not health.ok]


def describe(failures: list[DeviceHealth]) -> str:
    return "hardware: " + ", ".join(f"{h.device} {h.detail}".strip() for h in failures)

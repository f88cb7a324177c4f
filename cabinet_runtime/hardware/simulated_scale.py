"""A simulated load cell: true load plus noise, drift and injected faults.

The simulated world sets the physical load (``set_load``); the driver turns it
into samples at ``rate_hz`` the way a real load cell would, with Gaussian
noise, linear drift and fault windows: vibration bursts, a hand resting on the
shelf, and drop-outs during which no samples exist at all.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cabinet_runtime.hardware.interfaces import Clock, DeviceHealth, ScaleSample

ScaleFaultKind = Literal["vibration", "hand_rest", "scale_drop"]


@dataclass(frozen=True, slots=True)
class ScaleFault:
    """A window of misbehaviour; ``magnitude_g`` is the vibration amplitude
    or the weight of the resting hand."""

    kind: ScaleFaultKind
    start: float
    duration_s: float
    magnitude_g: float = 0.0

    def active(self, t: float) -> bool:
        return self.start <= t < self.start + self.duration_s


@dataclass(frozen=True, slots=True)
class ScaleConfig:
    shelf_id: str
    rate_hz: float = 30.0
    noise_g: float = 1.0
    drift_g_per_min: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1.0 <= self.rate_hz <= 1000.0:
            raise ValueError(f"scale {self.shelf_id}: rate_hz must be in 1..1000")
        if self.noise_g < 0:
            raise ValueError(f"scale {self.shelf_id}: noise_g must not be negative")


_HAND_RAMP_S = 0.3


class SimulatedShelfScale:
    """Samples are produced lazily, up to the clock's present, on each read."""

    def __init__(self, config: ScaleConfig, clock: Clock, initial_load_g: float = 0.0) -> None:
        self._config = config
        self._clock = clock
        self._rng = np.random.default_rng(config.seed)
        self._origin = clock.monotonic()
        # piecewise-linear true load: breakpoints (t, grams)
        self._load_t: list[float] = [self._origin]
        self._load_g: list[float] = [initial_load_g]
        self._faults: list[ScaleFault] = []
        self._next_index = math.floor(self._origin * config.rate_hz) + 1
        self._vibration_phase = float(self._rng.uniform(0, 2 * math.pi))

    @property
    def shelf_id(self) -> str:
        return self._config.shelf_id

    @property
    def rate_hz(self) -> float:
        return self._config.rate_hz

    def set_load(self, grams: float, at: float | None = None) -> None:
        """Physical truth: from ``at`` (default now) the shelf carries ``grams``.

        Successive calls build a ramp, so a hand lifting an item is a slope,
        not a step.
        """
        t = self._clock.monotonic() if at is None else at
        if t < self._load_t[-1]:
            raise ValueError("load changes must be given in time order")
        self._load_t.append(t)
        self._load_g.append(grams)

    @property
    def load_g(self) -> float:
        return self._true_load(self._clock.monotonic())

    def inject(self, fault: ScaleFault) -> None:
        self._faults.append(fault)

    def _true_load(self, t: float) -> float:
        i = bisect.bisect_right(self._load_t, t) - 1
        if i < 0:
            return self._load_g[0]
        if i + 1 >= len(self._load_t):
            return self._load_g[-1]
        t0, t1 = self._load_t[i], self._load_t[i + 1]
        g0, g1 = self._load_g[i], self._load_g[i + 1]
        return g0 if t1 <= t0 else g0 + (g1 - g0) * (t - t0) / (t1 - t0)

    def _disturbance(self, t: float) -> float:
        extra = 0.0
        for f in self._faults:
            if not f.active(t):
                continue
            if f.kind == "vibration":
                wave = math.sin(2 * math.pi * 11.0 * t + self._vibration_phase)
                extra += f.magnitude_g * (0.7 * wave + 0.3 * float(self._rng.standard_normal()))
            elif f.kind == "hand_rest":
                ramp = min(1.0, (t - f.start) / _HAND_RAMP_S, (f.start + f.duration_s - t) / 0.3)
                tremor = 0.02 * f.magnitude_g * math.sin(2 * math.pi * 1.3 * t)
                extra += ramp * f.magnitude_g + tremor
        return extra

    def _dropped(self, t: float) -> bool:
        return any(f.kind == "scale_drop" and f.active(t) for f in self._faults)

    def read_samples(self) -> list[ScaleSample]:
        now = self._clock.monotonic()
        cfg = self._config
        out: list[ScaleSample] = []
        last = math.floor(now * cfg.rate_hz)
        for k in range(self._next_index, last + 1):
            t = k / cfg.rate_hz
            if self._dropped(t):
                continue
            drift = cfg.drift_g_per_min * (t - self._origin) / 60.0
            noise = cfg.noise_g * float(self._rng.standard_normal())
            out.append(ScaleSample(t, self._true_load(t) + drift + noise + self._disturbance(t)))
        self._next_index = max(self._next_index, last + 1)
        return out

    def health(self) -> DeviceHealth:
        name = f"scale:{self.shelf_id}"
        if self._dropped(self._clock.monotonic()):
            return DeviceHealth(name, False, "no samples from load cell")
        return DeviceHealth(name, True)

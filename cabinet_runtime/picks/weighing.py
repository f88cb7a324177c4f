"""Weight-change events of one shelf from its raw load-cell samples.

Rolling statistics find the stable stretches of the signal; the level before
the door opened and the first level that holds after it closed give the
shelf's net change. A stretch counts as stable when its spread stays within a
few times the scale's own noise (estimated from the idle signal), so noise is
tolerated, while vibration bursts, grabs and a trembling hand are not taken
for levels. Slow drift is estimated from the two reference stretches and
removed. Stable plateaus while the door was open give the individual events.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

WINDOW_S = 0.4
"""Rolling window over which a stretch must be flat to count as stable."""
LOOKBACK_S = 10.0
"""How much idle signal before the door opened is used for the reference."""
MIN_LEVEL_S = 0.3
SETTLE_S = 1.0
CONFIRM_S = 0.2
"""A level after the door closed must hold this long to be final."""
_STABLE_K = 3.5
_MIN_NOISE_G = 0.5


@dataclass(frozen=True, slots=True)
class StableLevel:
    grams: float
    stderr_g: float
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class WeightChange:
    t: float
    delta_g: float


@dataclass(frozen=True, slots=True)
class ShelfWeighing:
    noise_g: float
    before: StableLevel | None
    after: StableLevel | None
    drift_g_per_s: float = 0.0
    drift_stderr: float = 0.0
    events: tuple[WeightChange, ...] = field(default_factory=tuple)

    @property
    def usable(self) -> bool:
        return self.before is not None and self.after is not None

    @property
    def delta_g(self) -> float:
        if self.before is None or self.after is None:
            raise ValueError("shelf has no before/after level")
        gap = _mid(self.after) - _mid(self.before)
        return self.after.grams - self.before.grams - self.drift_g_per_s * gap

    @property
    def sigma_g(self) -> float:
        """Standard error of ``delta_g``."""
        if self.before is None or self.after is None:
            raise ValueError("shelf has no before/after level")
        gap = _mid(self.after) - _mid(self.before)
        var = self.before.stderr_g**2 + self.after.stderr_g**2 + (self.drift_stderr * gap) ** 2
        return float(np.sqrt(var))


def _mid(level: StableLevel) -> float:
    return 0.5 * (level.start + level.end)


def estimate_noise(grams: FloatArray) -> float:
    """Noise of the idle signal: robust spread of first differences."""
    if grams.size < 5:
        return _MIN_NOISE_G
    diffs = np.diff(grams)
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    return max(_MIN_NOISE_G, 1.4826 * mad / float(np.sqrt(2.0)))


def stable_levels(times: FloatArray, grams: FloatArray, noise_g: float) -> list[StableLevel]:
    """Maximal stretches where every rolling window is flat, split where the
    level moves; each reported with its median and standard error."""
    if times.size < 4:
        return []
    dt = float(np.median(np.diff(times)))
    n = max(4, round(WINDOW_S / dt))
    if times.size < n:
        return []
    windows = np.lib.stride_tricks.sliding_window_view(grams, n)
    spread = windows.std(axis=1)
    flat = spread <= _STABLE_K * noise_g
    covered = np.zeros(times.size, dtype=bool)
    for start in np.flatnonzero(flat):
        covered[start : start + n] = True
    # a gap in the samples (a scale drop-out) also ends a stretch
    gaps = np.flatnonzero(np.diff(times) > 3 * dt)
    breaks = set((gaps + 1).tolist())
    levels: list[StableLevel] = []
    i = 0
    while i < times.size:
        if not covered[i]:
            i += 1
            continue
        j = i
        anchor = grams[i : i + n].mean() if i + n <= times.size else grams[i]
        while j + 1 < times.size and covered[j + 1] and (j + 1) not in breaks:
            if abs(grams[j + 1] - anchor) > 2 * _STABLE_K * noise_g:
                break
            j += 1
        seg = grams[i : j + 1]
        if times[j] - times[i] >= MIN_LEVEL_S:
            stderr = 1.2533 * noise_g / np.sqrt(seg.size)  # median of Gaussian noise
            levels.append(
                StableLevel(float(np.median(seg)), float(stderr), float(times[i]), float(times[j]))
            )
        i = j + 1
    return levels


def _drift(
    times: FloatArray, grams: FloatArray, spans: list[StableLevel], noise_g: float
) -> tuple[float, float]:
    """Common slope of the reference stretches (separate intercepts)."""
    num = 0.0
    den = 0.0
    for span in spans:
        mask = (times >= span.start) & (times <= span.end)
        t, g = times[mask], grams[mask]
        if t.size < 3:
            continue
        tc = t - t.mean()
        num += float(np.dot(tc, g - g.mean()))
        den += float(np.dot(tc, tc))
    if den <= 0:
        return 0.0, 0.0
    slope = num / den
    stderr = noise_g / np.sqrt(den)
    if abs(slope) < 3 * stderr:
        return 0.0, float(stderr)
    return slope, float(stderr)


def weigh_shelf(
    times: FloatArray, grams: FloatArray, opened_at: float, closed_at: float | None
) -> ShelfWeighing:
    idle = (times >= opened_at - LOOKBACK_S) & (times < opened_at)
    noise = estimate_noise(grams[idle])
    before_levels = stable_levels(times[idle], grams[idle], noise)
    before = before_levels[-1] if before_levels else None
    after: StableLevel | None = None
    events: list[WeightChange] = []
    if closed_at is not None:
        after = final_level(times, grams, noise, closed_at)
        during = (times >= opened_at) & (times <= closed_at)
        plateaus = [
            *([before] if before else []),
            *stable_levels(times[during], grams[during], noise),
            *([after] if after else []),
        ]
        for prev, nxt in itertools.pairwise(plateaus):
            step = nxt.grams - prev.grams
            if abs(step) > 2 * _STABLE_K * noise + 5.0:
                events.append(WeightChange(nxt.start, float(step)))
    drift, drift_se = 0.0, 0.0
    if before is not None and after is not None:
        drift, drift_se = _drift(times, grams, [before, after], noise)
    return ShelfWeighing(noise, before, after, drift, drift_se, tuple(events))


def final_level(
    times: FloatArray, grams: FloatArray, noise_g: float, closed_at: float
) -> StableLevel | None:
    """The level the shelf rests at once the door is closed: one that holds
    ``SETTLE_S`` in all and still holds ``CONFIRM_S`` after the close.

    A shelf already steady while the door swung shut is read 0.2 s after the
    close instead of waiting a whole second; a slam that shakes the shelf
    breaks the level, and then the next one must hold the full ``SETTLE_S``.
    """
    recent = times > closed_at - (SETTLE_S - CONFIRM_S)
    levels = stable_levels(times[recent], grams[recent], noise_g)
    return next(
        (lv for lv in levels if lv.end - lv.start >= SETTLE_S and lv.end >= closed_at + CONFIRM_S),
        None,
    )

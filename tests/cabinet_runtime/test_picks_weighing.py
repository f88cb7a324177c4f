"""Stable levels and weight-change events from raw, imperfect scale signals."""

from __future__ import annotations

import numpy as np
import pytest

from cabinet_runtime.hardware.clock import ManualClock
from cabinet_runtime.hardware.simulated_scale import ScaleConfig, ScaleFault, SimulatedShelfScale
from cabinet_runtime.picks.weighing import (
    CONFIRM_S,
    estimate_noise,
    final_level,
    stable_levels,
    weigh_shelf,
)


def _signal(
    steps: list[tuple[float, float]],
    faults: tuple[ScaleFault, ...] | list[ScaleFault] = (),
    noise_g: float = 2.0,
    drift: float = 0.0,
    rate: float = 30.0,
    until: float = 20.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A shelf at 2000 g from t=-12; each step changes the load by grams over 0.6 s."""
    clock = ManualClock(-12.0)
    scale = SimulatedShelfScale(ScaleConfig("s", rate, noise_g, drift, seed), clock, 2000.0)
    load = 2000.0
    for t, grams in steps:
        scale.set_load(load, at=t)
        load += grams
        scale.set_load(load, at=t + 0.6)
    for f in faults:
        scale.inject(f)
    clock.advance_to(until)
    samples = scale.read_samples()
    return np.array([s.t for s in samples]), np.array([s.grams for s in samples])


def test_noise_estimate_is_robust_to_a_step() -> None:
    _, grams = _signal([(-5.0, -500.0)], noise_g=3.0, until=0.0)
    assert estimate_noise(grams) == pytest.approx(3.0, rel=0.2)


def test_levels_and_events_of_a_clean_pick() -> None:
    times, grams = _signal([(2.0, -350.0), (6.0, -95.0)])
    w = weigh_shelf(times, grams, opened_at=0.0, closed_at=10.0)
    assert w.usable
    assert w.delta_g == pytest.approx(-445.0, abs=3 * w.sigma_g + 1)
    assert [round(e.delta_g) for e in w.events] == pytest.approx([-350, -95], abs=6)


@pytest.mark.parametrize("noise", [1.0, 5.0, 10.0])
def test_delta_is_accurate_under_noise(noise: float) -> None:
    times, grams = _signal([(3.0, -210.0)], noise_g=noise, seed=int(noise))
    w = weigh_shelf(times, grams, opened_at=0.0, closed_at=8.0)
    assert abs(w.delta_g + 210.0) < max(4.0 * w.sigma_g, 1.0)
    assert w.sigma_g < 0.6 * noise + 0.5


def test_drift_is_estimated_and_removed() -> None:
    times, grams = _signal([(3.0, -55.0)], noise_g=1.0, drift=40.0, until=50.0)
    w = weigh_shelf(times, grams, opened_at=0.0, closed_at=40.0)
    assert w.drift_g_per_s == pytest.approx(40.0 / 60.0, rel=0.25)
    assert w.delta_g == pytest.approx(-55.0, abs=6.0)
    raw = w.after.grams - w.before.grams  # type: ignore[union-attr]
    assert abs(raw + 55.0) > 20, "without the correction the drift would swamp a bar"


def test_vibration_and_resting_hand_are_not_levels() -> None:
    faults = [
        ScaleFault("vibration", 1.0, 2.0, 80.0),
        ScaleFault("hand_rest", 5.0, 3.0, 600.0),
    ]
    times, grams = _signal([(9.0, -520.0)], faults=faults, seed=4)
    w = weigh_shelf(times, grams, opened_at=0.0, closed_at=12.0)
    assert w.delta_g == pytest.approx(-520.0, abs=8.0)
    vib = (times > 1.2) & (times < 2.8)
    assert not stable_levels(times[vib], grams[vib], w.noise_g)


def test_final_level_missing_when_the_scale_drops_out_after_close() -> None:
    times, grams = _signal([(2.0, -210.0)], faults=[ScaleFault("scale_drop", 5.0, 60.0)])
    w = weigh_shelf(times, grams, opened_at=0.0, closed_at=6.0)
    assert w.after is None and not w.usable
    with pytest.raises(ValueError, match="before/after"):
        _ = w.delta_g


def test_gap_in_samples_splits_levels() -> None:
    times, grams = _signal([], faults=[ScaleFault("scale_drop", 2.0, 1.0)], until=5.0)
    levels = stable_levels(times[times > 0], grams[times > 0], 2.0)
    assert len(levels) == 2
    assert levels[0].end < 2.0 < 3.0 <= levels[1].start


def test_a_shelf_steady_through_the_close_is_final_soon_after_it() -> None:
    """The door close-to-receipt time: no whole second of waiting when nothing moves."""
    times, grams = _signal([(2.0, -350.0)], until=10.0 + CONFIRM_S + 0.1)
    noise = estimate_noise(grams[times < 0])
    level = final_level(times, grams, noise, closed_at=10.0)
    assert level is not None
    assert level.grams == pytest.approx(1650.0, abs=3)
    early = times < 10.0 + CONFIRM_S - 0.04  # not yet held long enough after the close
    assert final_level(times[early], grams[early], noise, closed_at=10.0) is None


def test_a_level_that_changes_at_the_close_waits_for_a_new_one() -> None:
    times, grams = _signal([(2.0, -350.0), (9.8, -95.0)], until=10.5)
    noise = estimate_noise(grams[times < 0])
    assert final_level(times, grams, noise, closed_at=10.0) is None  # still settling
    times, grams = _signal([(2.0, -350.0), (9.8, -95.0)], until=12.0)
    level = final_level(times, grams, noise, closed_at=10.0)
    assert level is not None
    assert level.grams == pytest.approx(1555.0, abs=3)

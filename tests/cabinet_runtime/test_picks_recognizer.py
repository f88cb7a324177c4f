"""From recorded interface outputs to basket lines, confidence, review and stock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cabinet_runtime.hardware.clock import ManualClock
from cabinet_runtime.hardware.simulated import Window
from cabinet_runtime.hardware.simulated_scale import ScaleConfig, ScaleFault
from cabinet_runtime.picks.fusion import ShelfEvidence, fuse
from cabinet_runtime.picks.planogram import LanePlan, Planogram, PlanogramError, Product, ShelfPlan
from cabinet_runtime.picks.recognizer import PickRecognizer, split_by_lane
from cabinet_runtime.picks.recorder import SessionRecorder
from cabinet_runtime.picks.recording import (
    decode_frame,
    encode_frame,
    load_recording,
    save_recording,
)
from cabinet_runtime.picks.solver import ShelfHypothesis
from cabinet_runtime.picks.weighing import LOOKBACK_S
from cabinet_runtime.simulation.world import Item, SimulatedCabinet, build_cabinet

PLANOGRAM = Planogram(
    currency="USD",
    products=[
        Product("COLA", "Cola", 350, 8, 199),
        Product("LEMON", "Lemonade", 350, 8, 219),
        Product("CHIPS", "Chips", 95, 4, 249),
        Product("BAR", "Bar", 55, 3, 129),
    ],
    shelves=[
        ShelfPlan("s1", [LanePlan("s1-a", "COLA", 6), LanePlan("s1-b", "LEMON", 6)]),
        ShelfPlan("s2", [LanePlan("s2-a", "CHIPS", 8), LanePlan("s2-b", "BAR", 8)]),
    ],
)


@pytest.fixture(scope="module")
def recognizer() -> PickRecognizer:
    return PickRecognizer(PLANOGRAM)


def _cabinet(seed: int = 1) -> tuple[ManualClock, SimulatedCabinet]:
    clock = ManualClock(-12.0)
    scales = {
        s.id: ScaleConfig(s.id, 30, 2.0, 0.0, seed + i) for i, s in enumerate(PLANOGRAM.shelves)
    }
    return clock, build_cabinet(PLANOGRAM, scales, clock, seed)


def _recorder(cab: SimulatedCabinet, store: Path | None = None) -> SessionRecorder:
    return SessionRecorder(
        {k: s.scale for k, s in cab.shelves.items()},
        {k: s.camera for k, s in cab.shelves.items()},
        cab.clock,
        store,
    )


def _run(clock: ManualClock, rec: SessionRecorder, until: float) -> None:
    while clock.monotonic() < until:
        clock.advance(0.1)
        rec.poll()


def _session(
    cab: SimulatedCabinet, rec: SessionRecorder, actions: list[tuple[float, Callable[[], object]]]
) -> None:
    clock = cab.clock
    _run(clock, rec, -0.5)
    cab.lock.unlock()
    rec.begin()
    _run(clock, rec, 0.0)
    assert cab.door.open()
    rec.door_opened(clock.monotonic())
    for t, action in actions:
        _run(clock, rec, t)
        action()
    _run(clock, rec, actions[-1][0] + 3 if actions else 3)
    cab.door.close()
    rec.door_closed(clock.monotonic())
    while not rec.is_settled():
        clock.advance(0.1)
        rec.poll()


def test_recording_round_trips_through_disk(tmp_path: Path) -> None:
    _, cab = _cabinet()
    rec = _recorder(cab, tmp_path / "s.rec")
    _session(cab, rec, [(2.0, lambda: cab.take("s2-a", 1))])
    recording = rec.finish()
    loaded = load_recording(tmp_path / "s.rec")
    assert loaded == recording
    frame = cab.shelves["s1"].camera.capture()
    assert frame is not None
    restored = decode_frame(encode_frame(frame))
    assert restored is not None and restored.shape == frame.shape
    assert np.abs(restored.astype(int) - frame).mean() < 8
    save_recording(recording, tmp_path / "t.rec", durable=False)
    assert load_recording(tmp_path / "t.rec") == recording


def test_basket_lines_confidence_and_stock(recognizer: PickRecognizer) -> None:
    _, cab = _cabinet(3)
    rec = _recorder(cab)
    _session(
        cab,
        rec,
        [
            (2.0, lambda: cab.take("s1-b", 2, "LEMON")),
            (5.0, lambda: cab.take("s2-b", 1, "BAR")),
            (8.0, lambda: cab.put("s2-a", "LEMON", 1)),
        ],
    )
    result = recognizer.recognize(rec.finish())
    assert result.basket == {"BAR": 1, "LEMON": 1}
    assert not result.review and result.confidence >= 0.9
    assert {line.sku: line.unit_price for line in result.lines} == {"BAR": 129, "LEMON": 219}
    assert all(0.9 <= line.confidence <= 1.0 for line in result.lines)
    # each line names the lane it left: the LEMON put back on s2-a still came from s1-b
    assert {(line.lane, line.sku): line.qty for line in result.lines} == {
        ("s1-b", "LEMON"): 1,
        ("s2-b", "BAR"): 1,
    }
    assert result.stock["s1-b"] == {"LEMON": 4}
    assert result.stock["s2-a"] == {"CHIPS": 8, "LEMON": 1}
    assert result.stock["s2-b"] == {"BAR": 7}
    s1 = next(s for s in result.shelves if s.shelf_id == "s1")
    assert s1.delta_g == pytest.approx(-700, abs=20)
    assert len(s1.events) == 1


def test_session_resumes_from_checkpoint_after_a_restart(
    tmp_path: Path, recognizer: PickRecognizer
) -> None:
    clock, cab = _cabinet(5)
    store = tmp_path / "session.rec"
    rec = _recorder(cab, store)
    _run(clock, rec, -0.5)
    cab.lock.unlock()
    rec.begin()
    _run(clock, rec, 0.0)
    cab.door.open()
    rec.door_opened(0.0)
    _run(clock, rec, 2.0)
    cab.take("s1-a", 1, "COLA")
    _run(clock, rec, 4.0)
    rec.checkpoint()
    del rec  # power cut: memory is gone
    clock.advance(5.0)
    cab.take("s2-a", 1, "CHIPS")  # the customer goes on while the cabinet reboots
    clock.advance(2.0)
    cab.door.close()
    clock.advance(1.0)
    resumed = SessionRecorder.resume(
        store,
        {k: s.scale for k, s in cab.shelves.items()},
        {k: s.camera for k, s in cab.shelves.items()},
        clock,
    )
    assert resumed.recording.opened_at == 0.0
    resumed.door_closed(clock.monotonic())
    while not resumed.is_settled():
        clock.advance(0.1)
        resumed.poll()
    result = recognizer.recognize(resumed.finish())
    assert result.basket == {"CHIPS": 1, "COLA": 1}
    assert not result.review


def test_scale_dropped_at_close_means_camera_only_and_review(recognizer: PickRecognizer) -> None:
    _, cab = _cabinet(7)
    cab.shelves["s2"].scale.inject(ScaleFault("scale_drop", 3.0, 100.0))
    rec = _recorder(cab)
    _session(cab, rec, [(2.0, lambda: cab.take("s2-a", 1, "CHIPS"))])
    result = recognizer.recognize(rec.finish())
    assert result.basket == {"CHIPS": 1}
    assert result.review
    assert any("camera only" in r for r in result.reasons)
    assert result.lines[0].confidence <= 0.5, "the line itself is doubtful, not only the basket"


def test_camera_dropped_with_equal_weights_goes_to_review(recognizer: PickRecognizer) -> None:
    _, cab = _cabinet(8)
    cab.shelves["s1"].camera.drop(Window(-100, 1000))
    rec = _recorder(cab)
    _session(cab, rec, [(2.0, lambda: cab.take("s1-b", 1, "LEMON"))])
    result = recognizer.recognize(rec.finish())
    assert result.review and result.confidence <= 0.5
    assert sum(result.basket.values()) == 1


def test_no_door_opening_means_no_reading(recognizer: PickRecognizer) -> None:
    _, cab = _cabinet()
    rec = _recorder(cab)
    _run(cab.clock, rec, 0.0)
    result = recognizer.recognize(rec.finish())
    assert result.basket == {} and result.review


def test_camera_disagreeing_with_weight_is_reviewed() -> None:
    hyps = [ShelfHypothesis((("CHIPS", -1),), -2.0, 0.5), ShelfHypothesis((), -40.0, 95.0)]
    fused = fuse([ShelfEvidence("s2", hyps, Counter({"BAR": -1}))], {"s2": -300.0})
    assert fused.basket == {"CHIPS": 1}
    assert fused.confidence <= 0.5 and fused.line_confidence["CHIPS"] <= 0.5
    assert any("disagrees" in r for r in fused.reasons)


def test_planogram_rejects_inconsistent_data() -> None:
    with pytest.raises(PlanogramError, match="unknown SKU"):
        Planogram("USD", [Product("A", "A", 1, 1, 1)], [ShelfPlan("s", [LanePlan("l", "B", 1)])])
    with pytest.raises(PlanogramError, match="weights"):
        Planogram("USD", [Product("A", "A", 0, 1, 1)], [])


def test_item_misplaced_earlier_can_be_taken(recognizer: PickRecognizer) -> None:
    # the planogram does not know it is there; the camera's proposal does
    _, cab = _cabinet(11)
    shelf = cab.shelves["s2"]
    shelf.lanes["s2-a"].append(Item("LEMON", 351.0))  # left there by a previous customer
    shelf.scale.set_load(shelf.load_g(), at=cab.clock.monotonic())
    rec = _recorder(cab)
    _session(cab, rec, [(2.0, lambda: cab.take("s2-a", 1, "LEMON"))])
    result = recognizer.recognize(rec.finish())
    assert result.basket == {"LEMON": 1}
    assert not result.review


def test_swapping_a_product_for_an_equal_weight_object_is_reviewed(
    recognizer: PickRecognizer,
) -> None:
    # the scale sees no change at all; only the camera notices the cola is gone
    _, cab = _cabinet(13)
    rec = _recorder(cab)
    _session(
        cab,
        rec,
        [
            (2.0, lambda: cab.take("s1-a", 1, "COLA")),
            (5.0, lambda: cab.place_foreign("s1-a", 350.0)),
        ],
    )
    result = recognizer.recognize(rec.finish())
    assert result.review
    assert any("camera disagrees" in r for r in result.reasons)


def test_idle_recorder_keeps_only_the_reference_window() -> None:
    clock, cab = _cabinet()
    rec = _recorder(cab)
    _run(clock, rec, 60.0)
    for shelf in rec.recording.shelves.values():
        span = shelf.samples[-1][0] - shelf.samples[0][0]
        assert LOOKBACK_S - 0.2 <= span <= LOOKBACK_S
    assert rec.recording.opened_at is None and not rec.is_settled()


def test_a_sku_in_two_lanes_is_split_by_what_each_lane_lost() -> None:
    planogram = Planogram(
        currency="KRW",
        products=[Product("COLA", "Cola", 355.0, 8.0, 1500), Product("BAR", "Bar", 50.0, 3.0, 900)],
        shelves=[
            ShelfPlan("s1", [LanePlan("a", "COLA", 5), LanePlan("b", "COLA", 3)]),
            ShelfPlan("s2", [LanePlan("c", "BAR", 4)]),
        ],
    )
    after = {"a": {"COLA": 4}, "b": {"COLA": 1}, "c": {"BAR": 4}}
    assert split_by_lane(planogram, after, "COLA", 3) == [("a", 1), ("b", 2)]
    # more taken than the counts explain: the rest is booked to the fullest lane
    assert split_by_lane(planogram, after, "COLA", 4) == [("a", 2), ("b", 2)]
    # a SKU no lane holds is booked to the first lane (the server refuses it there)
    assert split_by_lane(planogram, after, "BAR", 1) == [("c", 1)]
    assert split_by_lane(planogram, after, "TEA", 1) == [("a", 1)]

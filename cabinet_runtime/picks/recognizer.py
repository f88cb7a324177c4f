"""From a recorded session to basket lines with confidence, and lane stock.

Sees only what the hardware interfaces delivered (scale samples, shelf
frames) plus the planogram and product appearances.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import msgspec

from cabinet_runtime.hardware.interfaces import BgrFrame
from cabinet_runtime.hardware.shelf_layout import ShelfLayout
from cabinet_runtime.picks.appearance import appearance_catalog
from cabinet_runtime.picks.fusion import FusedBasket, ShelfEvidence, as_changes, fuse
from cabinet_runtime.picks.planogram import Planogram, ShelfPlan
from cabinet_runtime.picks.recording import SessionRecording, ShelfRecording, decode_frame
from cabinet_runtime.picks.solver import Changes, ShelfHypothesis, ShelfProblem, score, solve
from cabinet_runtime.picks.vision import ShelfView, ShelfVision, shelf_change
from cabinet_runtime.picks.weighing import ShelfWeighing, weigh_shelf

REVIEW_BELOW = 0.9
LaneStock = dict[str, dict[str, int]]
ViewPair = tuple[ShelfView, ShelfView]
MAX_ITEMS = 8


class BasketLine(msgspec.Struct, frozen=True):
    lane: str
    """The lane the items came from: the server checks each line against that lane."""
    sku: str
    qty: int
    unit_price: int
    """Integer minor units of ``PickResult.currency``."""
    confidence: float


class ShelfReport(msgspec.Struct, frozen=True):
    shelf_id: str
    delta_g: float | None
    events: list[tuple[float, float]]
    """(time, grams) of each weight change seen while the door was open."""
    camera: bool


class PickResult(msgspec.Struct, frozen=True):
    currency: str
    lines: list[BasketLine]
    confidence: float
    review: bool
    reasons: list[str]
    stock: LaneStock
    """lane id -> SKU -> count after the session."""
    shelves: list[ShelfReport]

    @property
    def basket(self) -> dict[str, int]:
        """SKU -> quantity, over all lanes."""
        total: Counter[str] = Counter()
        for line in self.lines:
            total[line.sku] += line.qty
        return dict(total)


class PickRecognizer:
    def __init__(
        self,
        planogram: Planogram,
        appearances: Mapping[str, BgrFrame] | None = None,
        image_dir: Path | None = None,
        review_below: float = REVIEW_BELOW,
    ) -> None:
        self.planogram = planogram
        self._products = {p.sku: p for p in planogram.products}
        catalog = appearances or appearance_catalog(planogram.products, image_dir)
        # the camera can only name what the planogram can price and weigh
        self._vision = ShelfVision({k: v for k, v in catalog.items() if k in self._products})
        self._review_below = review_below

    def _problem(self, plan: ShelfPlan, weighing: ShelfWeighing) -> ShelfProblem:
        takeable: Counter[str] = Counter()
        for lane in plan.lanes:
            takeable[lane.sku] += lane.count
        elsewhere: Counter[str] = Counter()
        for other in self.planogram.shelves:
            if other.id != plan.id:
                for lane in other.lanes:
                    elsewhere[lane.sku] += lane.count
        lightest = min(p.unit_weight_g for p in self.planogram.products)
        activity = sum(abs(e.delta_g) for e in weighing.events)
        items = round(max(activity, abs(weighing.delta_g)) / lightest) + 2
        return ShelfProblem(
            delta_g=weighing.delta_g,
            sigma_g=weighing.sigma_g,
            takeable=takeable,
            returnable=elsewhere,
            home_skus=frozenset(takeable),
            max_items=min(MAX_ITEMS, items),
        )

    def _views(self, rec: ShelfRecording, layout: ShelfLayout) -> ViewPair | None:
        before, after = decode_frame(rec.before_jpeg), decode_frame(rec.after_jpeg)
        if before is None or after is None:
            return None
        return self._vision.read(before, layout), self._vision.read(after, layout)

    def recognize(self, recording: SessionRecording) -> PickResult:
        evidence: list[ShelfEvidence] = []
        vision_scores: dict[str, float | None] = {}
        reports: list[ShelfReport] = []
        views: dict[str, ShelfView] = {}
        for plan in self.planogram.shelves:
            rec = recording.shelves.get(plan.id, ShelfRecording(plan.id))
            weighing = None
            if recording.opened_at is not None:
                times, grams = rec.times_grams()
                weighing = weigh_shelf(times, grams, recording.opened_at, recording.closed_at)
            read = self._views(rec, ShelfLayout(tuple(lane.id for lane in plan.lanes)))
            change = None if read is None else shelf_change(*read)
            if read is not None:
                views[plan.id] = read[1]
            hypotheses: list[ShelfHypothesis] = []
            if weighing is not None and weighing.usable:
                problem = self._problem(plan, weighing)
                hypotheses = solve(problem, self._products)
                if change is not None:
                    vision_scores[plan.id] = score(as_changes(change), problem, self._products)
            vconf = 1.0 if read is None else min(read[0].confidence, read[1].confidence)
            evidence.append(ShelfEvidence(plan.id, hypotheses, change, vconf))
            reports.append(_report(plan.id, weighing, read is not None))
        return self._result(fuse(evidence, vision_scores), views, reports)

    def _result(
        self, fused: FusedBasket, views: Mapping[str, ShelfView], reports: list[ShelfReport]
    ) -> PickResult:
        stock: LaneStock = {}
        for plan in self.planogram.shelves:
            changes = fused.shelf_changes.get(plan.id, ())
            view = views.get(plan.id)
            stock.update(_lane_stock(plan, changes, view))
        lines = [
            BasketLine(
                lane, sku, qty, self._products[sku].price, round(fused.line_confidence[sku], 4)
            )
            for sku, total in sorted(fused.basket.items())
            for lane, qty in split_by_lane(self.planogram, stock, sku, total)
        ]
        return PickResult(
            currency=self.planogram.currency,
            lines=lines,
            confidence=round(fused.confidence, 4),
            review=fused.confidence < self._review_below,
            reasons=fused.reasons,
            stock=stock,
            shelves=reports,
        )


def _report(shelf_id: str, weighing: ShelfWeighing | None, camera: bool) -> ShelfReport:
    usable = weighing is not None and weighing.usable
    return ShelfReport(
        shelf_id,
        float(weighing.delta_g) if weighing is not None and usable else None,
        [(e.t, e.delta_g) for e in weighing.events] if weighing is not None else [],
        camera,
    )


def split_by_lane(
    planogram: Planogram, after: LaneStock, sku: str, qty: int
) -> list[tuple[str, int]]:
    """Which lanes ``qty`` of ``sku`` left: the lanes holding it that lost most, first.

    What no lane's count explains (an item put back on another shelf leaves the
    counts off) is booked to the SKU's fullest lane; a SKU no lane holds to the
    first lane, which the server then refuses as not that lane's SKU.
    """
    every = [lane for shelf in planogram.shelves for lane in shelf.lanes]
    homes = [lane for lane in every if lane.sku == sku]
    lost = {lane.id: lane.count - after.get(lane.id, {}).get(sku, 0) for lane in homes}
    split: list[tuple[str, int]] = []
    left = qty
    for lane_id in sorted(lost, key=lambda lid: -lost[lid]):
        took = min(left, max(lost[lane_id], 0))
        if took:
            split.append((lane_id, took))
            left -= took
    if left:
        fallback = max(homes, key=lambda lane: lane.count) if homes else every[0]
        merged = dict(split)
        merged[fallback.id] = merged.get(fallback.id, 0) + left
        split = list(merged.items())
    return sorted(split)


def _lane_stock(plan: ShelfPlan, changes: Changes, view: ShelfView | None) -> LaneStock:
    """The camera's count where it agrees with the chosen changes, otherwise
    the planogram's count with the changes applied lane by lane."""
    lanes = {lane.id: Counter({lane.sku: lane.count}) for lane in plan.lanes}
    for sku, n in changes:
        homes = [lane.id for lane in plan.lanes if lane.sku == sku]
        if n < 0:
            left = -n
            for lane_id in sorted(homes, key=lambda lid: -lanes[lid][sku]):
                took = min(left, lanes[lane_id][sku])
                lanes[lane_id][sku] -= took
                left -= took
        else:
            lanes[(homes or [plan.lanes[0].id])[0]][sku] += n
    if view is not None:
        predicted = Counter[str]()
        seen = Counter[str]()
        for lane_id in lanes:
            predicted.update(lanes[lane_id])
            seen.update(view.lanes[lane_id])
        if +predicted == +seen:
            return {lid: dict(+view.lanes[lid]) for lid in lanes}
    return {lid: dict(+counts) for lid, counts in lanes.items()}

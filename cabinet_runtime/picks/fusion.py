"""Fuses per-shelf weight hypotheses and camera readings into one basket.

Per shelf, the weight solver proposes multisets; the cameras' before/after
change is added as a proposal of its own and penalises every proposal it
contradicts (this is what separates SKUs of equal weight). Shelves are then
combined under one constraint: nothing can be put back that was not taken.
Scores become probabilities over whole baskets; the basket's confidence is
its probability and each line's confidence the probability of its quantity.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cabinet_runtime.picks.solver import Changes, ShelfHypothesis

VISION_PENALTY = 6.0
"""Log-score cost of each unit a proposal differs from a clear camera reading."""
PER_SHELF = 6
DOUBT_CONFIDENCE = 0.5
"""Ceiling for a shelf read by the camera alone, or where camera and scale
disagree: such a reading always goes to review."""


@dataclass(frozen=True, slots=True)
class ShelfEvidence:
    shelf_id: str
    hypotheses: Sequence[ShelfHypothesis]
    """From the weight solver; empty when the scale gave no usable levels."""
    vision: Counter[str] | None
    """Signed per-SKU change seen by the camera; None without frames."""
    vision_confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class FusedBasket:
    basket: dict[str, int]
    confidence: float
    line_confidence: dict[str, float]
    shelf_changes: dict[str, Changes]
    reasons: list[str] = field(default_factory=list)


def as_changes(counter: Mapping[str, int]) -> Changes:
    return tuple(sorted((sku, n) for sku, n in counter.items() if n))


def _mismatch(changes: Changes, vision: Counter[str]) -> int:
    diff = Counter(dict(changes))
    diff.subtract(vision)
    return sum(abs(n) for n in diff.values())


@dataclass(frozen=True, slots=True)
class _ShelfOptions:
    candidates: list[tuple[Changes, float]]
    reasons: list[str]
    trusted: bool
    """False when the shelf cannot be judged without a person (no scale)."""


def _shelf_options(ev: ShelfEvidence, vision_score: float | None) -> _ShelfOptions:
    if not ev.hypotheses:
        if ev.vision is None:
            why = f"shelf {ev.shelf_id}: neither scale nor camera usable"
            return _ShelfOptions([((), 0.0)], [why], trusted=False)
        why = f"shelf {ev.shelf_id}: no weight reading explains the shelf, camera only"
        return _ShelfOptions([(as_changes(ev.vision), 0.0)], [why], trusted=False)
    cands = [(h.changes, h.log_score) for h in ev.hypotheses[:PER_SHELF]]
    if ev.vision is None:
        why = f"shelf {ev.shelf_id}: no camera frames, weight only"
        return _ShelfOptions(cands, [why], trusted=True)
    seen = as_changes(ev.vision)
    if vision_score is not None and all(c != seen for c, _ in cands):
        cands.append((seen, vision_score))
    weight = VISION_PENALTY * ev.vision_confidence
    cands = [(c, s - weight * _mismatch(c, ev.vision)) for c, s in cands]
    return _ShelfOptions(cands, [], trusted=True)


def _skus(changes: Changes) -> set[str]:
    return {sku for sku, _ in changes}


def fuse(
    evidence: Sequence[ShelfEvidence], vision_scores: Mapping[str, float | None]
) -> FusedBasket:
    """``vision_scores[shelf]`` is the weight model's score of the camera's
    proposal (None when the proposal is impossible for the weight model)."""
    options = [_shelf_options(ev, vision_scores.get(ev.shelf_id)) for ev in evidence]
    reasons = [why for opt in options for why in opt.reasons]
    totals: dict[tuple[tuple[str, int], ...], float] = defaultdict(float)
    best_log = -math.inf
    scored: list[tuple[float, dict[str, int], tuple[Changes, ...]]] = []
    for combo in itertools.product(*(opt.candidates for opt in options)):
        basket: Counter[str] = Counter()
        for changes, _ in combo:
            for sku, n in changes:
                basket[sku] -= n
        if any(n < 0 for n in basket.values()):
            continue  # put back more than was taken
        log = sum(s for _, s in combo)
        scored.append((log, {k: v for k, v in basket.items() if v}, tuple(c for c, _ in combo)))
        best_log = max(best_log, log)
    if not scored:
        return FusedBasket({}, 0.0, {}, {}, [*reasons, "no consistent basket"])
    line_mass: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for log, outcome, _ in scored:
        totals[tuple(sorted(outcome.items()))] += math.exp(log - best_log)
    norm = sum(totals.values())
    top_key = max(totals, key=lambda k: totals[k])
    top_basket = dict(top_key)
    top_changes = max(
        (e for e in scored if tuple(sorted(e[1].items())) == top_key), key=lambda e: e[0]
    )[2]
    for log, outcome, _ in scored:
        p = math.exp(log - best_log) / norm
        for sku in set(outcome) | set(top_basket):
            line_mass[sku][outcome.get(sku, 0)] += p
    confidence = totals[top_key] / norm
    line_conf = {sku: line_mass[sku][qty] for sku, qty in top_basket.items()}
    doubtful: set[str] = set()
    for ev, opt, changes in zip(evidence, options, top_changes, strict=True):
        if not opt.trusted:
            doubtful |= _skus(changes)
        elif ev.vision is not None and as_changes(ev.vision) != changes:
            reasons.append(f"shelf {ev.shelf_id}: camera disagrees with the chosen reading")
            doubtful |= _skus(changes) | _skus(as_changes(ev.vision))
        else:
            continue
        confidence = min(confidence, DOUBT_CONFIDENCE)
    for sku in doubtful & set(line_conf):
        line_conf[sku] = min(line_conf[sku], DOUBT_CONFIDENCE)
    shelf_changes = {ev.shelf_id: c for ev, c in zip(evidence, top_changes, strict=True)}
    return FusedBasket(top_basket, confidence, line_conf, shelf_changes, reasons)

"""The identification decision: approve, ask for a step-up, or deny, with reasons.

One comparison at threshold ``t`` falsely matches with probability FMR(t)
(from the calibration table). A 1:N search compares the probe with every
enrolled subject, so the expected number of false matches above ``t`` is
``gallery_size * FMR(t)``. When that exceeds the configured budget, a face
alone is not enough in this cohort: the policy asks for a step-up, a second
factor (e.g. the phone's last four digits on the keypad) that narrows the
gallery; the caller then decides again over the narrowed gallery with
``step_up_available=False``. A top-1/top-2 margin below ``min_margin`` also
asks for a step-up, because two enrolled people look alike to the model.

Every decision lists machine-readable reasons, in the order they were found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from biometrics.calibration import CalibrationTable, default_table
from biometrics.errors import BiometricsError
from biometrics.matcher import Candidate


class PolicyError(BiometricsError):
    """decide() was called with inconsistent input."""


class Outcome(StrEnum):
    APPROVE = "approve"
    STEP_UP = "step_up"
    DENY = "deny"


class Reason(StrEnum):
    EMPTY_GALLERY = "empty_gallery"
    BELOW_THRESHOLD = "below_threshold"
    ABOVE_THRESHOLD = "above_threshold"
    FALSE_MATCH_RISK_TOO_HIGH = "false_match_risk_too_high"
    FALSE_MATCH_RISK_OK = "false_match_risk_ok"
    AMBIGUOUS_MARGIN = "ambiguous_margin"
    CLEAR_MARGIN = "clear_margin"
    STEP_UP_EXHAUSTED = "step_up_exhausted"


@dataclass(frozen=True)
class PolicyConfig:
    threshold: float | None = None  # None: the calibration table's default threshold
    # At most this many expected false matches per identification.
    max_expected_false_matches: float = 0.01
    min_margin: float = 0.08  # top-1 minus top-2 cosine score

    def __post_init__(self) -> None:
        if self.max_expected_false_matches <= 0:
            raise PolicyError("max_expected_false_matches must be positive")
        if self.min_margin < 0:
            raise PolicyError("min_margin must not be negative")
        if self.threshold is not None and not -1.0 <= self.threshold <= 1.0:
            raise PolicyError("threshold must be a cosine similarity in -1..1")


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    subject_id: str | None  # set on approve only
    score: float | None  # top-1 score
    margin: float | None  # top-1 minus top-2, None with fewer than two candidates
    threshold: float
    gallery_size: int
    fmr_at_threshold: float
    expected_false_matches: float
    reasons: tuple[Reason, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "subject_id": self.subject_id,
            "score": self.score,
            "margin": self.margin,
            "threshold": self.threshold,
            "gallery_size": self.gallery_size,
            "fmr_at_threshold": self.fmr_at_threshold,
            "expected_false_matches": self.expected_false_matches,
            "reasons": [r.value for r in self.reasons],
        }


def default_threshold(pack_id: str) -> float:
    """The calibrated default threshold of a pack (from its shipped table)."""
    return default_table(pack_id).default_threshold


def decide(
    candidates: Sequence[Candidate],
    gallery_size: int,
    table: CalibrationTable,
    config: PolicyConfig | None = None,
    *,
    step_up_available: bool = True,
) -> Decision:
    """Decide on the top candidates of a 1:N search over ``gallery_size`` subjects.

    Pass at least the top two candidates so the margin can be judged.
    """
    cfg = config or PolicyConfig()
    if gallery_size < len(candidates):
        raise PolicyError(
            f"gallery of {gallery_size} cannot yield {len(candidates)} distinct candidates"
        )
    if len({c.subject_id for c in candidates}) != len(candidates):
        raise PolicyError("candidates must be distinct subjects")
    threshold = cfg.threshold if cfg.threshold is not None else table.default_threshold
    fmr = table.fmr_at(threshold)
    expected = gallery_size * fmr
    ranked = sorted(candidates, key=lambda c: c.score, reverse=True)
    top = ranked[0] if ranked else None
    margin = ranked[0].score - ranked[1].score if len(ranked) > 1 else None

    def result(outcome: Outcome, reasons: list[Reason]) -> Decision:
        return Decision(
            outcome=outcome,
            subject_id=top.subject_id if outcome is Outcome.APPROVE and top else None,
            score=top.score if top else None,
            margin=margin,
            threshold=threshold,
            gallery_size=gallery_size,
            fmr_at_threshold=fmr,
            expected_false_matches=expected,
            reasons=tuple(reasons),
        )

    if top is None:
        return result(Outcome.DENY, [Reason.EMPTY_GALLERY])
    if top.score < threshold:
        return result(Outcome.DENY, [Reason.BELOW_THRESHOLD])
    reasons = [Reason.ABOVE_THRESHOLD]
    step_up = False
    if expected > cfg.max_expected_false_matches:
        reasons.append(Reason.FALSE_MATCH_RISK_TOO_HIGH)
        step_up = True
    else:
        reasons.append(Reason.FALSE_MATCH_RISK_OK)
    if margin is not None and margin < cfg.min_margin:
        reasons.append(Reason.AMBIGUOUS_MARGIN)
        step_up = True
    else:
        reasons.append(Reason.CLEAR_MARGIN)
    if not step_up:
        return result(Outcome.APPROVE, reasons)
    if step_up_available:
        return result(Outcome.STEP_UP, reasons)
    return result(Outcome.DENY, [*reasons, Reason.STEP_UP_EXHAUSTED])

"""One liveness report from whichever checks the device can run.

Depth relief and motion parallax are strong evidence (geometry a print or a
screen cannot fake); the passive model is a learned opinion on one image. A
failed check makes the presentation a spoof; otherwise it is live only when a
strong check passed (or, if so configured, the passive model alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from biometrics.engine import DetectedFace, FaceEngine
from biometrics.liveness.depth import DepthConfig, check_depth
from biometrics.liveness.motion import MotionConfig, check_motion, track_landmarks
from biometrics.liveness.passive import PassiveConfig, PassiveModel, check_passive
from biometrics.liveness.result import CheckResult

STRONG_CHECKS = frozenset({"depth", "motion"})
NO_EVIDENCE = "no_liveness_evidence"
MOTION_TRACK_LOST = "motion_track_lost"


class LivenessDecision(StrEnum):
    LIVE = "live"
    SPOOF = "spoof"
    INSUFFICIENT = "insufficient_evidence"


@dataclass(frozen=True)
class LivenessConfig:
    depth: DepthConfig = field(default_factory=DepthConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    passive: PassiveConfig = field(default_factory=PassiveConfig)
    # A device without a depth camera or a head-turn prompt may accept the
    # passive model alone; that is a weaker guarantee and off by default.
    passive_alone_suffices: bool = False
    # Checks that must pass, e.g. {"depth"} on a cabinet with a depth camera:
    # a screen often returns no depth at all, which must not leave the decision
    # to a check that a replayed video can satisfy.
    required: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LivenessReport:
    decision: LivenessDecision
    checks: tuple[CheckResult, ...]
    reasons: tuple[str, ...]

    @property
    def live(self) -> bool:
        return self.decision is LivenessDecision.LIVE

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": str(self.decision),
            "reasons": list(self.reasons),
            "checks": [c.to_dict() for c in self.checks],
        }


def combine(
    checks: Sequence[CheckResult], config: LivenessConfig = LivenessConfig()
) -> LivenessReport:
    failed = [c for c in checks if c.passed is False]
    if failed:
        reasons = tuple(r for c in failed for r in c.reasons)
        return LivenessReport(LivenessDecision.SPOOF, tuple(checks), reasons)
    undecided = tuple(r for c in checks if c.passed is None for r in c.reasons)
    missing = sorted(
        n for n in config.required if not any(c.name == n and c.passed for c in checks)
    )
    if missing:
        required = tuple(f"{name}_required" for name in missing)
        return LivenessReport(LivenessDecision.INSUFFICIENT, tuple(checks), (*undecided, *required))
    strong_pass = any(c.passed is True and c.name in STRONG_CHECKS for c in checks)
    passive_pass = any(c.passed is True and c.name == "passive" for c in checks)
    if strong_pass or (config.passive_alone_suffices and passive_pass):
        return LivenessReport(LivenessDecision.LIVE, tuple(checks), ())
    return LivenessReport(LivenessDecision.INSUFFICIENT, tuple(checks), (*undecided, NO_EVIDENCE))


def assess_liveness(
    engine: FaceEngine,
    image_bgr: npt.NDArray[np.uint8],
    face: DetectedFace,
    *,
    depth_mm: npt.NDArray[np.floating] | None = None,
    frames: Sequence[npt.NDArray[np.uint8]] | None = None,
    passive_model: PassiveModel | None = None,
    config: LivenessConfig = LivenessConfig(),
) -> LivenessReport:
    """Run every check the evidence allows: depth when a depth map (registered to
    ``image_bgr``) is given, motion when ``frames`` of a head turn are given
    (the first should be ``image_bgr``), passive when a model is given."""
    checks: list[CheckResult] = []
    if depth_mm is not None:
        checks.append(check_depth(depth_mm, face, config.depth))
    if frames is not None:
        tracks = track_landmarks(engine, frames, face)
        if tracks is None:
            checks.append(CheckResult("motion", 0.0, None, (MOTION_TRACK_LOST,)))
        else:
            checks.append(check_motion(tracks, config.motion))
    if passive_model is not None:
        checks.append(check_passive(passive_model, image_bgr, face, config.passive))
    return combine(checks, config)

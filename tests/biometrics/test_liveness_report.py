from __future__ import annotations

import numpy as np
import pytest
from shared_models import antispoof_model

from biometrics.attacks.depth_maps import genuine_depth, sheet_depth
from biometrics.attacks.head_turn import genuine_head_turn, planar_turn
from biometrics.attacks.presentation import printed_photo
from biometrics.engine import DetectedFace, FaceEngine
from biometrics.liveness.passive import PassiveModel
from biometrics.liveness.report import (
    NO_EVIDENCE,
    LivenessConfig,
    LivenessDecision,
    assess_liveness,
    combine,
)
from biometrics.liveness.result import CheckResult
from biometrics.pose import estimate_pose

LIVE, SPOOF, UNSURE = LivenessDecision.LIVE, LivenessDecision.SPOOF, LivenessDecision.INSUFFICIENT


def _check(name: str, passed: bool | None, reason: str = "") -> CheckResult:
    return CheckResult(name, 0.9 if passed else 0.1, passed, (reason,) if reason else ())


@pytest.mark.parametrize(
    ("checks", "decision", "reasons"),
    [
        ([_check("depth", True)], LIVE, ()),
        ([_check("motion", True), _check("passive", True)], LIVE, ()),
        (
            [_check("depth", True), _check("passive", False, "passive_spoof")],
            SPOOF,
            ("passive_spoof",),
        ),
        ([_check("depth", False, "depth_flat"), _check("motion", True)], SPOOF, ("depth_flat",)),
        ([_check("depth", None, "depth_missing")], UNSURE, ("depth_missing", NO_EVIDENCE)),
        ([_check("passive", True)], UNSURE, (NO_EVIDENCE,)),
        ([], UNSURE, (NO_EVIDENCE,)),
    ],
)
def test_combination_rules(
    checks: list[CheckResult], decision: LivenessDecision, reasons: tuple[str, ...]
) -> None:
    report = combine(checks)
    assert report.decision is decision
    assert report.reasons == reasons
    assert report.live is (decision is LIVE)


def test_passive_alone_can_be_allowed() -> None:
    report = combine([_check("passive", True)], LivenessConfig(passive_alone_suffices=True))
    assert report.decision is LIVE


def test_a_required_check_without_evidence_blocks_live() -> None:
    config = LivenessConfig(required=frozenset({"depth"}))
    checks = [_check("depth", None, "depth_missing"), _check("motion", True)]
    report = combine(checks, config)
    assert report.decision is UNSURE
    assert report.reasons == ("depth_missing", "depth_required")
    assert combine([_check("depth", True)], config).decision is LIVE


def test_report_is_serialisable() -> None:
    report = combine([_check("depth", True)])
    assert report.to_dict() == {
        "decision": "live",
        "reasons": [],
        "checks": [
            {"name": "depth", "score": 0.9, "passed": True, "reasons": [], "measurements": {}}
        ],
    }


def _passive() -> PassiveModel | None:
    path = antispoof_model()
    return PassiveModel.load(path) if path is not None else None


def _most_frontal(faces: list[DetectedFace]) -> DetectedFace:
    def turn(face: DetectedFace) -> float:
        pose = estimate_pose(face.kps)
        return abs(pose.yaw) + abs(pose.pitch)

    return min(faces, key=turn)


def test_genuine_presentation_end_to_end(engine: FaceEngine, t1_faces) -> None:  # type: ignore[no-untyped-def]
    image, face = t1_faces.image, _most_frontal(t1_faces.faces)
    rng = np.random.default_rng(7)
    report = assess_liveness(
        engine,
        image,
        face,
        depth_mm=genuine_depth(image.shape[:2], face.kps, rng),
        frames=genuine_head_turn(image, face.kps, [0, 8, 16]),
        passive_model=_passive(),
    )
    assert report.decision is LIVE, report.to_dict()
    assert {c.name for c in report.checks} >= {"depth", "motion"}
    assert all(c.passed for c in report.checks)


def test_printed_photo_end_to_end(engine: FaceEngine, t1_faces) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(8)
    printed = printed_photo(t1_faces.image, rng)
    target = _most_frontal(t1_faces.faces)
    face = min(engine.detect(printed), key=lambda f: abs(f.bbox[0] - target.bbox[0]))
    report = assess_liveness(
        engine,
        printed,
        face,
        depth_mm=sheet_depth(printed.shape[:2], face.kps, rng, "tilted"),
        frames=planar_turn(printed, face.kps, [0, -15, -30]),
    )
    assert report.decision is SPOOF, report.to_dict()
    assert "depth_flat" in report.reasons

"""The presentation-attack suite: genuine and attack presentations, error rates.

For every source face it builds one genuine presentation (the photo, a depth
map of a real head, a rendered head turn) and one per attack type (a print
held flat, tilted or bent, and a screen replay: the recaptured image, the
depth the sheet or screen gives, the sheet turned in front of the camera).
Each check runs once per presentation; the scenarios then combine the checks
a device would have. Rates use ISO/IEC 30107-3 terms: APCER per attack type
is the share of attack presentations accepted as live, BPCER the share of
genuine presentations not accepted as live.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from biometrics.attacks.depth_maps import genuine_depth, screen_depth, sheet_depth
from biometrics.attacks.head_turn import genuine_head_turn, planar_turn
from biometrics.attacks.presentation import camera_capture, printed_photo, screen_replay
from biometrics.attacks.sources import SourceFace
from biometrics.engine import DetectedFace, FaceEngine
from biometrics.liveness.depth import check_depth
from biometrics.liveness.motion import check_motion, track_landmarks
from biometrics.liveness.passive import PassiveModel, check_passive
from biometrics.liveness.report import MOTION_TRACK_LOST, LivenessConfig, combine
from biometrics.liveness.result import CheckResult

ImageArray = npt.NDArray[np.uint8]
GENUINE = "genuine"
ATTACK_TYPES = ("print_flat", "print_tilted", "print_bent", "screen_replay", "screen_video")
# Attacks that a given check is not designed to stop: a video of a real head
# turning, replayed on a screen, shows real parallax. Depth (a flat screen) or
# the passive model has to catch it; the suite reports it so nobody forgets.
OUT_OF_SCOPE = {"motion": frozenset({"screen_video"})}
SCENARIOS: dict[str, tuple[str, ...]] = {
    "depth": ("depth",),
    "motion": ("motion",),
    "passive": ("passive",),
    "depth+motion": ("depth", "motion"),
    "depth+motion+passive": ("depth", "motion", "passive"),
}
NOT_DETECTED = "face_not_detected"


@dataclass(frozen=True)
class Presentation:
    subject: str
    kind: str  # GENUINE or one of ATTACK_TYPES
    image: ImageArray
    depth_mm: npt.NDArray[np.float32]
    frames: tuple[ImageArray, ...]


@dataclass(frozen=True)
class PresentationResult:
    subject: str
    kind: str
    checks: dict[str, CheckResult]


def _turn_angles(rng: np.random.Generator, count: int, max_deg: float) -> list[float]:
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return [sign * max_deg * i / (count - 1) for i in range(count)]


def build_presentations(
    source: SourceFace,
    rng: np.random.Generator,
    *,
    attack_types: Sequence[str] = ATTACK_TYPES,
    turn_frames: int = 3,
) -> Iterator[Presentation]:
    size = source.frame.shape[:2]
    kps = source.face.kps
    yaws = _turn_angles(rng, turn_frames, float(rng.uniform(12, 20)))
    turn = genuine_head_turn(source.frame, kps, yaws)
    yield Presentation(
        source.name,
        GENUINE,
        source.frame,
        genuine_depth((size[0], size[1]), kps, rng),
        tuple(camera_capture(frame, rng) for frame in turn),
    )
    for kind in attack_types:
        if kind == "screen_video":
            # One screen, one set of moire and glare, playing the genuine turn.
            screen_seed = int(rng.integers(1 << 31))
            shown = [screen_replay(f, np.random.default_rng(screen_seed)) for f in turn]
            depth = screen_depth((size[0], size[1]), kps, rng)
            captured = tuple(camera_capture(frame, rng) for frame in shown)
            yield Presentation(source.name, kind, shown[0], depth, captured)
            continue
        if kind == "screen_replay":
            image = screen_replay(source.frame, rng)
            depth = screen_depth((size[0], size[1]), kps, rng)
        else:
            image = printed_photo(source.frame, rng)
            sheet = {"print_flat": "flat", "print_tilted": "tilted", "print_bent": "cylinder"}[kind]
            depth = sheet_depth((size[0], size[1]), kps, rng, sheet)
        # The attacker turns the sheet as asked, up to 35 degrees, maybe tipping it too.
        attack_yaws = _turn_angles(rng, turn_frames, float(rng.uniform(12, 35)))
        pitches = _turn_angles(rng, turn_frames, float(rng.uniform(0, 15)))
        frames = planar_turn(image, kps, attack_yaws, pitches_deg=pitches)
        captured = tuple(camera_capture(frame, rng) for frame in frames)
        yield Presentation(source.name, kind, image, depth, captured)


def _main_face(engine: FaceEngine, image: ImageArray, near: DetectedFace) -> DetectedFace | None:
    faces = engine.detect(image)
    if not faces:
        return None
    return min(faces, key=lambda f: float(np.abs(f.kps[2] - near.kps[2]).sum()))


def run_checks(
    engine: FaceEngine,
    presentation: Presentation,
    near: DetectedFace,
    passive_model: PassiveModel | None,
) -> PresentationResult:
    """Every check on one presentation, the face found as the device would find it."""
    face = _main_face(engine, presentation.image, near)
    if face is None:  # an attack the detector does not even see is rejected outright
        missing = CheckResult("detection", 0.0, False, (NOT_DETECTED,))
        return PresentationResult(presentation.subject, presentation.kind, {"detection": missing})
    checks = {"depth": check_depth(presentation.depth_mm, face)}
    tracks = track_landmarks(engine, presentation.frames, face)
    checks["motion"] = (
        check_motion(tracks)
        if tracks is not None
        else CheckResult("motion", 0.0, None, (MOTION_TRACK_LOST,))
    )
    if passive_model is not None:
        checks["passive"] = check_passive(passive_model, presentation.image, face)
    return PresentationResult(presentation.subject, presentation.kind, checks)


@dataclass(frozen=True)
class ScenarioRates:
    scenario: str
    apcer: dict[str, float]  # per attack type
    bpcer: float
    attack_counts: dict[str, int]
    genuine_count: int
    genuine_rejections: dict[str, int] = field(default_factory=dict)  # reason -> count

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "apcer": {k: round(v, 4) for k, v in self.apcer.items()},
            "bpcer": round(self.bpcer, 4),
            "attack_counts": self.attack_counts,
            "genuine_count": self.genuine_count,
            "genuine_rejections": self.genuine_rejections,
        }


def scenario_rates(results: Sequence[PresentationResult], scenario: str) -> ScenarioRates:
    names = SCENARIOS[scenario]
    # A device with a depth camera requires depth evidence (see LivenessConfig.required).
    config = LivenessConfig(
        passive_alone_suffices=names == ("passive",),
        required=frozenset({"depth"} & set(names)),
    )
    accepted: dict[str, list[bool]] = {}
    rejections: dict[str, int] = {}
    for result in results:
        checks = [c for n, c in result.checks.items() if n in names or n == "detection"]
        report = combine(checks, config)
        accepted.setdefault(result.kind, []).append(report.live)
        if result.kind == GENUINE and not report.live:
            for reason in report.reasons:
                rejections[reason] = rejections.get(reason, 0) + 1
    genuine = accepted.pop(GENUINE, [])
    return ScenarioRates(
        scenario=scenario,
        apcer={kind: float(np.mean(v)) for kind, v in sorted(accepted.items())},
        bpcer=float(1 - np.mean(genuine)) if genuine else float("nan"),
        attack_counts={kind: len(v) for kind, v in sorted(accepted.items())},
        genuine_count=len(genuine),
        genuine_rejections=rejections,
    )


def run_suite(
    engine: FaceEngine,
    sources: Sequence[SourceFace],
    *,
    seed: int = 0,
    passive_model: PassiveModel | None = None,
    attack_types: Sequence[str] = ATTACK_TYPES,
) -> list[PresentationResult]:
    rng = np.random.default_rng(seed)
    results = []
    for source in sources:
        for presentation in build_presentations(source, rng, attack_types=attack_types):
            results.append(run_checks(engine, presentation, source.face, passive_model))
    return results


def suite_report(results: Sequence[PresentationResult]) -> dict[str, Any]:
    """APCER/BPCER for every scenario whose checks were run."""
    available = {name for r in results for name in r.checks}
    return {
        scenario: scenario_rates(results, scenario).to_dict()
        for scenario, names in SCENARIOS.items()
        if set(names) <= available
    }

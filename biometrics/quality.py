"""Quality gates: is this face good enough to enroll or identify?

Each gate adds a machine-readable reason; a face passes when no gate objects.
Sharpness and exposure are measured on the aligned 112x112 crop, so they do not
depend on how large the face is in the frame (size has its own gate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from biometrics.engine import DetectedFace, FaceEngine, as_bgr
from biometrics.pose import HeadPose, estimate_pose


class QualityReason(StrEnum):
    NO_FACE = "no_face"
    FACE_TOO_SMALL = "face_too_small"
    LOW_DETECTION_SCORE = "low_detection_score"
    BLURRED = "blurred"
    OVEREXPOSED = "overexposed"
    UNDEREXPOSED = "underexposed"
    POSE_OUT_OF_RANGE = "pose_out_of_range"
    MULTIPLE_FACES = "multiple_faces"
    FACE_CUT_BY_EDGE = "face_cut_by_edge"


@dataclass(frozen=True)
class QualityConfig:
    min_interocular_px: float = 24.0
    min_detection_score: float = 0.6
    # Variance of the Laplacian of the aligned grey crop (after a light denoise).
    min_sharpness: float = 30.0
    min_brightness: float = 60.0  # mean grey level of the central face region
    max_brightness: float = 200.0
    max_clipped_fraction: float = 0.25  # share of pixels at 0 or 255
    max_yaw: float = 30.0
    max_pitch: float = 25.0
    max_roll: float = 25.0
    # Another face at least this fraction of the main face's inter-ocular distance
    # counts as a second person in front of the camera (smaller ones are far behind).
    other_face_min_ratio: float = 0.5
    edge_margin_ratio: float = 0.02  # of the face box size


ENROLLMENT_QUALITY = QualityConfig(
    min_interocular_px=40.0, max_yaw=20.0, max_pitch=20.0, max_roll=15.0
)


@dataclass(frozen=True)
class QualityReport:
    ok: bool
    reasons: tuple[QualityReason, ...]
    interocular_px: float
    sharpness: float
    brightness: float
    clipped_fraction: float
    pose: HeadPose

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reasons": [str(r) for r in self.reasons],
            "interocular_px": round(self.interocular_px, 1),
            "sharpness": round(self.sharpness, 1),
            "brightness": round(self.brightness, 1),
            "pose": {
                "yaw": round(self.pose.yaw, 1),
                "pitch": round(self.pose.pitch, 1),
                "roll": round(self.pose.roll, 1),
            },
        }


def interocular_distance(face: DetectedFace) -> float:
    return float(np.linalg.norm(face.kps[1] - face.kps[0]))


def sharpness(aligned_bgr: npt.NDArray[np.uint8]) -> float:
    """Variance of the Laplacian of the contrast-normalised grey crop.

    Normalising the contrast first (std 40) keeps a dim but sharp face from
    reading as blurred: exposure has its own gate. A 3x3 blur keeps sensor
    noise from passing as detail.
    """
    grey = cv2.cvtColor(aligned_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    centre = cv2.GaussianBlur(grey, (3, 3), 0)[16:-16, 16:-16]
    normalised = (centre - centre.mean()) * (40.0 / max(float(centre.std()), 1.0))
    return float(cv2.Laplacian(normalised, cv2.CV_32F).var())


def exposure(aligned_bgr: npt.NDArray[np.uint8]) -> tuple[float, float]:
    """Mean brightness and clipped share of the central face (cheeks, eyes, nose, mouth)."""
    grey = cv2.cvtColor(aligned_bgr[24:104, 24:88], cv2.COLOR_BGR2GRAY)
    clipped = float(np.mean((grey <= 5) | (grey >= 250)))
    return float(grey.mean()), clipped


def _cut_by_edge(face: DetectedFace, shape: tuple[int, ...], config: QualityConfig) -> bool:
    # SCRFD clips a cut face's box at the frame border, so a box that touches
    # the border (within a small margin) is a face that continues outside it.
    height, width = shape[:2]
    x1, y1, x2, y2 = face.bbox
    margin = max(1.0, config.edge_margin_ratio * max(face.width, face.height))
    return x1 <= margin or y1 <= margin or x2 >= width - margin or y2 >= height - margin


def assess_face(
    engine: FaceEngine,
    image_bgr: npt.NDArray[Any],
    face: DetectedFace,
    *,
    others: Sequence[DetectedFace] = (),
    config: QualityConfig = QualityConfig(),
) -> QualityReport:
    """Quality of ``face``; ``others`` are the other faces detected in the same frame."""
    image = as_bgr(image_bgr)
    aligned = engine.align(image, face)
    iod = interocular_distance(face)
    sharp = sharpness(aligned)
    brightness, clipped = exposure(aligned)
    pose = estimate_pose(face.kps)
    reasons: list[QualityReason] = []
    if iod < config.min_interocular_px:
        reasons.append(QualityReason.FACE_TOO_SMALL)
    if face.score < config.min_detection_score:
        reasons.append(QualityReason.LOW_DETECTION_SCORE)
    if sharp < config.min_sharpness:
        reasons.append(QualityReason.BLURRED)
    if brightness > config.max_brightness or (
        clipped > config.max_clipped_fraction and brightness > 127
    ):
        reasons.append(QualityReason.OVEREXPOSED)
    if brightness < config.min_brightness or (
        clipped > config.max_clipped_fraction and brightness <= 127
    ):
        reasons.append(QualityReason.UNDEREXPOSED)
    if (
        abs(pose.yaw) > config.max_yaw
        or abs(pose.pitch) > config.max_pitch
        or abs(pose.roll) > config.max_roll
    ):
        reasons.append(QualityReason.POSE_OUT_OF_RANGE)
    if any(
        other is not face and interocular_distance(other) >= config.other_face_min_ratio * iod
        for other in others
    ):
        reasons.append(QualityReason.MULTIPLE_FACES)
    if _cut_by_edge(face, image.shape, config):
        reasons.append(QualityReason.FACE_CUT_BY_EDGE)
    return QualityReport(
        ok=not reasons,
        reasons=tuple(reasons),
        interocular_px=iod,
        sharpness=sharp,
        brightness=brightness,
        clipped_fraction=clipped,
        pose=pose,
    )


@dataclass(frozen=True)
class FrameQuality:
    """The main (largest) face of a frame and its quality; face is None without a face."""

    face: DetectedFace | None
    report: QualityReport | None
    reasons: tuple[QualityReason, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.report is not None and self.report.ok


def assess_frame(
    engine: FaceEngine,
    image_bgr: npt.NDArray[Any],
    config: QualityConfig = QualityConfig(),
) -> FrameQuality:
    """Detect, pick the largest face and gate it against the rest of the frame."""
    image = as_bgr(image_bgr)
    faces = engine.detect(image)
    if not faces:
        return FrameQuality(None, None, (QualityReason.NO_FACE,))
    main = max(faces, key=lambda f: f.area)
    report = assess_face(engine, image, main, others=faces, config=config)
    return FrameQuality(main, report, report.reasons)

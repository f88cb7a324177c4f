"""Motion parallax: does the face move like a 3-D head or like a picture?

Over a few frames of a head turn, the 106 landmarks of a real head move with
parallax (the nose and the face contour slide against the cheeks), while every
point of a photo or a screen, however the sheet is turned, follows one
homography. A similarity transform absorbs plain translation, scaling and
in-plane rotation; what is left over is the evidence that the face turned at
all (otherwise the check has no evidence), and what even a homography cannot
explain is parallax.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from biometrics.engine import DetectedFace, FaceEngine
from biometrics.errors import LivenessInputError
from biometrics.liveness.result import CheckResult, ramp

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class MotionConfig:
    # Residuals are RMS distances in units of the face size (landmark extent).
    min_turn: float = 0.015  # non-similarity motion that counts as a head turn
    # Measured on rendered 15-30 degree turns of the shipped photos: a head gives
    # parallax >= 0.0145 and ratio >= 0.65; a turned print <= 0.011 and <= 0.41.
    min_parallax: float = 0.013  # homography residual of a real head
    min_parallax_ratio: float = 0.55  # parallax / non-similarity motion


# The 106-point model's first 33 points trace the jaw contour. On a turned
# print they wander by more than the inner points' parallax, so with the full
# 106-point set only the inner points (brows, eyes, nose, mouth) are judged.
CONTOUR_106 = 33


MOTION_INSUFFICIENT = "motion_insufficient"
MOTION_PLANAR = "motion_planar"


def _rms(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    return float(np.sqrt(np.mean(np.sum((a - b) ** 2, axis=1))))


def _residuals(
    reference: npt.NDArray[np.float64], points: npt.NDArray[np.float64]
) -> tuple[float, float]:
    similarity, _ = cv2.estimateAffinePartial2D(reference, points, method=cv2.LMEDS)
    homography, _ = cv2.findHomography(reference, points, 0)
    if similarity is None or homography is None:
        return math.nan, math.nan
    by_similarity = np.asarray(reference @ similarity[:, :2].T + similarity[:, 2], np.float64)
    projected = np.asarray(
        cv2.perspectiveTransform(reference.reshape(-1, 1, 2), homography).reshape(-1, 2),
        np.float64,
    )
    return _rms(by_similarity, points), _rms(projected, points)


def check_motion(
    landmark_frames: Sequence[npt.NDArray[np.floating]],
    config: MotionConfig = MotionConfig(),
) -> CheckResult:
    """Judge landmark tracks (one (N, 2) array per frame, N >= 8, same order)."""
    if len(landmark_frames) < 2:
        raise LivenessInputError("motion liveness needs landmarks of at least 2 frames")
    frames = [np.asarray(f, dtype=np.float64).reshape(-1, 2) for f in landmark_frames]
    if frames[0].shape[0] == 106:
        frames = [f[CONTOUR_106:] for f in frames]
    if any(f.shape != frames[0].shape for f in frames) or frames[0].shape[0] < 8:
        raise LivenessInputError("every frame needs the same landmarks, at least 8 of them")
    reference = frames[0]
    extent = reference.max(axis=0) - reference.min(axis=0)
    size = float(np.sqrt(extent[0] * extent[1]))
    if size <= 0:
        raise LivenessInputError("the reference landmarks are degenerate")
    turns, parallaxes = [], []
    for points in frames[1:]:
        turn, parallax = _residuals(reference, points)
        if not math.isnan(turn):
            turns.append(turn / size)
            parallaxes.append(parallax / size)
    if not turns or max(turns) < config.min_turn:
        measurements = {"turn": max(turns, default=0.0)}
        return CheckResult("motion", 0.0, None, (MOTION_INSUFFICIENT,), measurements)
    # Judge the frame that turned most: it carries the strongest parallax signal.
    best = int(np.argmax(turns))
    turn, parallax = turns[best], parallaxes[best]
    ratio = parallax / turn
    measurements = {"turn": turn, "parallax": parallax, "parallax_ratio": ratio}
    score = min(
        ramp(parallax, config.min_parallax, 2 * config.min_parallax),
        ramp(ratio, config.min_parallax_ratio, 2 * config.min_parallax_ratio),
    )
    if parallax < config.min_parallax or ratio < config.min_parallax_ratio:
        return CheckResult("motion", min(score, 0.49), False, (MOTION_PLANAR,), measurements)
    return CheckResult("motion", score, True, (), measurements)


def track_landmarks(
    engine: FaceEngine,
    frames: Sequence[npt.NDArray[np.uint8]],
    start: DetectedFace | None = None,
) -> list[FloatArray] | None:
    """106-point landmarks of one face through ``frames``: the face nearest to
    ``start`` (the largest face when None), then in each frame the face nearest
    to where it was. None when the face is lost in some frame."""
    tracks: list[FloatArray] = []
    previous: DetectedFace | None = start
    for frame in frames:
        faces = engine.detect(frame, landmarks106=True)
        if not faces:
            return None
        if previous is None:
            face = max(faces, key=lambda f: f.area)
        else:
            anchor = previous.kps[2]
            face = min(faces, key=lambda f: float(np.abs(f.kps[2] - anchor).sum()))
            if float(np.linalg.norm(face.kps[2] - anchor)) > max(previous.width, 1.0):
                return None
        if face.landmarks106 is None:
            raise LivenessInputError(f"model pack {engine.pack_id} has no 106-point landmarks")
        tracks.append(face.landmarks106)
        previous = face
    return tracks

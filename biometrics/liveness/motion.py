"""Motion parallax: does the face move like a 3-D head or like a picture?

Over a few frames of a head turn, the nose of a real head slides across the
face: it stands ~30 mm in front of the eyes and mouth, so when the head turns
it moves further than the plane of eyes, brows and mouth would carry it. A
photo or a screen, however it is turned, is one plane: the homography fitted
on the eyes, brows and mouth carries the nose along with them. The check fits
that homography between the first frame and the frame that turned most, and
measures how far the nose landmarks are from where the plane puts them.
Without enough turning (the face stood still or only slid and rotated in the
image plane) the check has no evidence either way.
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
Points = npt.NDArray[np.float64]

# Indices into insightface's 106-point markup (2d106det): 0-32 trace the jaw,
# which wanders on a turned print, so it is left out; the lower nose is 72-86.
LANDMARKS = 106
PLANE_POINTS = (*range(33, 72), *range(87, 106))  # brows, eyes, mouth
NOSE_POINTS = (74, 77, 78, 79, 80, 82, 83, 84, 85, 86)  # nose tip and wings
INNER_POINTS = (*PLANE_POINTS, *NOSE_POINTS)


@dataclass(frozen=True)
class MotionConfig:
    # Distances are in units of the face size (sqrt of the landmark box area).
    min_turn: float = 0.008  # motion beyond a similarity that counts as turning
    # Rendered 16-20 degree turns of the shipped photos (with camera blur and
    # noise) move the nose >= 0.024 off the plane; turned prints and screens
    # (up to 35 degrees yaw, 15 pitch) <= 0.014.
    min_nose_parallax: float = 0.019
    # The nose must move clearly more than the plane points' own misfit.
    min_nose_to_plane: float = 1.5


MOTION_INSUFFICIENT = "motion_insufficient"
MOTION_PLANAR = "motion_planar"


def _rms(a: Points, b: Points) -> float:
    return float(np.sqrt(np.mean(np.sum((a - b) ** 2, axis=1))))


def _apply(homography: Points, points: Points) -> Points:
    moved = cv2.perspectiveTransform(points.reshape(-1, 1, 2), homography)
    return np.asarray(moved.reshape(-1, 2), np.float64)


def _turn(reference: Points, points: Points) -> float:
    """How much the inner face moved beyond translation, scale and in-plane rotation."""
    inner = list(INNER_POINTS)
    similarity, _ = cv2.estimateAffinePartial2D(reference[inner], points[inner], method=cv2.LMEDS)
    if similarity is None:
        return math.nan
    carried = np.asarray(reference[inner] @ similarity[:, :2].T + similarity[:, 2], np.float64)
    return _rms(carried, points[inner])


def _parallax(reference: Points, points: Points) -> tuple[float, float]:
    """(nose offset from the plane's homography, plane points' own RMS misfit)."""
    plane, nose = list(PLANE_POINTS), list(NOSE_POINTS)
    found, _ = cv2.findHomography(reference[plane], points[plane], 0)
    if found is None:
        return math.nan, math.nan
    homography = np.asarray(found, np.float64)
    ref_nose, ref_plane = np.asarray(reference[nose]), np.asarray(reference[plane])
    offset = (_apply(homography, ref_nose) - points[nose]).mean(axis=0)
    return float(np.linalg.norm(offset)), _rms(_apply(homography, ref_plane), points[plane])


def check_motion(
    landmark_frames: Sequence[npt.NDArray[np.floating]],
    config: MotionConfig = MotionConfig(),
) -> CheckResult:
    """Judge 106-point landmark tracks of one face (one (106, 2) array per frame)."""
    if len(landmark_frames) < 2:
        raise LivenessInputError("motion liveness needs landmarks of at least 2 frames")
    frames = [np.asarray(f, dtype=np.float64).reshape(-1, 2) for f in landmark_frames]
    if any(f.shape != (LANDMARKS, 2) for f in frames):
        raise LivenessInputError("motion liveness needs the 106-point landmarks of every frame")
    reference = frames[0]
    extent = reference.max(axis=0) - reference.min(axis=0)
    size = float(np.sqrt(extent[0] * extent[1]))
    if not size > 0:
        raise LivenessInputError("the reference landmarks are degenerate")
    turns = [_turn(reference, points) / size for points in frames[1:]]
    if all(math.isnan(t) for t in turns) or np.nanmax(turns) < config.min_turn:
        measurements = {"turn": float(np.nanmax(turns)) if not all(map(math.isnan, turns)) else 0.0}
        return CheckResult("motion", 0.0, None, (MOTION_INSUFFICIENT,), measurements)
    # Judge the frame that turned most: it carries the strongest parallax.
    best = int(np.nanargmax(turns))
    nose, plane = _parallax(reference, frames[best + 1])
    nose, plane = nose / size, plane / size
    ratio = nose / plane if plane > 0 else math.inf
    measurements = {
        "turn": turns[best],
        "nose_parallax": nose,
        "plane_misfit": plane,
        "nose_to_plane": min(ratio, 1e6),
    }
    score = min(
        ramp(nose, config.min_nose_parallax, 2 * config.min_nose_parallax),
        ramp(min(ratio, 1e6), config.min_nose_to_plane, 2 * config.min_nose_to_plane),
    )
    if not (nose >= config.min_nose_parallax and ratio >= config.min_nose_to_plane):
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

"""Head pose (yaw, pitch, roll) from the five detector landmarks.

A weak-perspective model of the five points: eyes and mouth corners lie near
one plane and the nose tip stands out of it by about half the inter-ocular
distance. Turning the head moves the nose tip off the eye/mouth midline in
proportion to tan(angle), which is all five points can tell. Accurate to a few
degrees within +-45 degrees: enough for a quality gate, not for graphics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Geometry of the arcface 112x112 template (insightface.utils.face_align), in
# units of the inter-ocular distance.
NOSE_DEPTH = 0.48  # nose tip in front of the eye/mouth plane (~30 mm of ~63 mm)
EYE_TO_MOUTH = 1.15  # vertical eye-line to mouth-line distance
NOSE_HEIGHT = 0.49  # nose tip, as a fraction of the way from the eye line to the mouth line


@dataclass(frozen=True)
class HeadPose:
    """Degrees. yaw > 0: the face turns to the image's right; pitch > 0: chin up;
    roll > 0: the head tilts clockwise in the image."""

    yaw: float
    pitch: float
    roll: float


def estimate_pose(kps: npt.NDArray[np.float32]) -> HeadPose:
    """Pose from (5, 2) landmarks: left eye, right eye, nose, left mouth, right mouth."""
    points = np.asarray(kps, dtype=np.float64).reshape(5, 2)
    left_eye, right_eye = points[0], points[1]
    eye_vec = right_eye - left_eye
    roll = math.atan2(eye_vec[1], eye_vec[0])
    # Undo the roll about the eye midpoint so yaw and pitch are measured upright.
    cos_r, sin_r = math.cos(-roll), math.sin(-roll)
    rotation = np.array([[cos_r, -sin_r], [sin_r, cos_r]])
    upright = (points - (left_eye + right_eye) / 2) @ rotation.T
    eye_mid = (upright[0] + upright[1]) / 2
    mouth_mid = (upright[3] + upright[4]) / 2
    interocular = max(float(np.linalg.norm(eye_vec)), 1e-6)
    midline_x = (eye_mid[0] + mouth_mid[0]) / 2
    yaw = math.atan2(upright[2][0] - midline_x, NOSE_DEPTH * interocular)
    eye_to_mouth = float(mouth_mid[1] - eye_mid[1])
    if eye_to_mouth <= 1e-6:  # degenerate (upside down or collapsed) landmarks
        return HeadPose(math.degrees(yaw), 90.0, math.degrees(roll))
    fraction = (upright[2][1] - eye_mid[1]) / eye_to_mouth
    # The eye-to-mouth distance foreshortens with pitch just as the nose offset grows.
    pitch = math.atan2((NOSE_HEIGHT - fraction) * EYE_TO_MOUTH, NOSE_DEPTH)
    return HeadPose(math.degrees(yaw), math.degrees(pitch), math.degrees(roll))

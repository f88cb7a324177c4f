from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from biometrics.engine import FaceEngine
from biometrics.enrollment import enroll_frames
from biometrics.errors import EnrollmentError
from biometrics.pose import NOSE_DEPTH, estimate_pose
from biometrics.quality import QualityConfig, QualityReason, assess_frame

R = QualityReason


def _reasons(engine: FaceEngine, image: np.ndarray) -> tuple[QualityReason, ...]:
    return assess_frame(engine, image).reasons


def test_a_good_frame_passes(engine: FaceEngine, portrait: np.ndarray) -> None:
    frame = assess_frame(engine, portrait)
    assert frame.ok
    assert frame.reasons == ()
    assert frame.report is not None
    assert abs(frame.report.pose.yaw) < 15


def test_no_face(engine: FaceEngine) -> None:
    assert _reasons(engine, np.full((480, 640, 3), 90, np.uint8)) == (R.NO_FACE,)


def test_face_too_small(engine: FaceEngine, portrait: np.ndarray) -> None:
    small = cv2.resize(portrait, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    canvas = np.full_like(portrait, 110)
    canvas[: small.shape[0], : small.shape[1]] = small
    assert R.FACE_TOO_SMALL in _reasons(engine, canvas)


def test_blurred(engine: FaceEngine, portrait: np.ndarray) -> None:
    assert _reasons(engine, cv2.GaussianBlur(portrait, (0, 0), 3)) == (R.BLURRED,)


def test_dim_but_sharp_is_underexposed_not_blurred(
    engine: FaceEngine, portrait: np.ndarray
) -> None:
    dark = (portrait.astype(np.float32) * 0.3).astype(np.uint8)
    assert _reasons(engine, dark) == (R.UNDEREXPOSED,)


def test_overexposed(engine: FaceEngine, portrait: np.ndarray) -> None:
    bright = np.clip(portrait.astype(np.float32) * 2.5, 0, 255).astype(np.uint8)
    assert R.OVEREXPOSED in _reasons(engine, bright)


def test_rolled_head_is_out_of_pose(engine: FaceEngine, portrait: np.ndarray) -> None:
    rotation = cv2.getRotationMatrix2D((316, 243), 40, 1.0)
    rolled = cv2.warpAffine(portrait, rotation, (640, 480), borderValue=(110, 110, 110))
    frame = assess_frame(engine, rolled)
    assert frame.reasons == (R.POSE_OUT_OF_RANGE,)
    assert frame.report is not None
    assert frame.report.pose.roll == pytest.approx(-40, abs=6)


def test_turned_head_is_out_of_pose(engine: FaceEngine, t1_faces) -> None:  # type: ignore[no-untyped-def]
    # t1.jpg: the face at x~960 is turned well away from the camera
    turned = next(f for f in t1_faces.faces if 900 < f.bbox[0] < 1000)
    x1, y1, x2, y2 = (int(v) for v in turned.bbox)
    crop = t1_faces.image[max(y1 - 80, 0) : y2 + 80, max(x1 - 80, 0) : x2 + 80]
    frame = assess_frame(engine, crop)
    assert R.POSE_OUT_OF_RANGE in frame.reasons
    assert frame.report is not None
    assert abs(frame.report.pose.yaw) > 30


def test_two_people(engine: FaceEngine, portrait: np.ndarray, yaoming: np.ndarray) -> None:
    face = yaoming
    pair = portrait.copy()
    pair[100 : 100 + face.shape[0], 400 : 400 + face.shape[1]] = face
    assert _reasons(engine, pair) == (R.MULTIPLE_FACES,)


def test_a_face_far_behind_is_not_a_second_person(
    engine: FaceEngine, portrait: np.ndarray, yaoming: np.ndarray
) -> None:
    face = yaoming
    tiny = cv2.resize(face, None, fx=0.35, fy=0.35, interpolation=cv2.INTER_AREA)
    scene = portrait.copy()
    scene[20 : 20 + tiny.shape[0], 520 : 520 + tiny.shape[1]] = tiny
    assert assess_frame(engine, scene).ok


def test_face_cut_by_edge(engine: FaceEngine, portrait: np.ndarray) -> None:
    frame = assess_frame(engine, portrait)
    assert frame.face is not None
    x1, _, x2, _ = frame.face.bbox
    cut = portrait[:, int(x1 + 0.3 * (x2 - x1)) :]
    reasons = _reasons(engine, np.ascontiguousarray(cut))
    assert R.FACE_CUT_BY_EDGE in reasons


def _project(yaw: float, pitch: float, roll: float) -> np.ndarray:
    # The five points in units of the inter-ocular distance, nose out of the plane.
    pts = np.array(
        [
            [-0.5, -0.565, 0],
            [0.5, -0.565, 0],
            [0, 0, NOSE_DEPTH],
            [-0.41, 0.585, 0],
            [0.41, 0.585, 0],
        ]
    )
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    rotated = pts @ (rz @ rx @ ry).T
    return (rotated[:, :2] * 60 + 200).astype(np.float32)


@pytest.mark.parametrize(
    ("yaw", "pitch", "roll"),
    [(0, 0, 0), (25, 0, 0), (-40, 0, 0), (0, 20, 0), (0, -20, 0), (0, 0, 30), (20, 10, -15)],
)
def test_pose_from_five_points(yaw: float, pitch: float, roll: float) -> None:
    pose = estimate_pose(_project(yaw, pitch, roll))
    assert pose.yaw == pytest.approx(yaw, abs=5)
    assert pose.pitch == pytest.approx(pitch, abs=5)
    assert pose.roll == pytest.approx(roll, abs=5)


def test_enrollment_keeps_passing_frames(engine: FaceEngine, portrait: np.ndarray) -> None:
    good = [np.roll(portrait, shift, axis=1) for shift in (-30, 0, 30)]
    bad = [cv2.GaussianBlur(portrait, (0, 0), 3), np.full_like(portrait, 90)]
    result = enroll_frames(engine, [good[0], bad[0], good[1], bad[1], good[2]])
    assert result.kept == (0, 2, 4)
    assert result.embeddings.shape == (3, 512)
    assert result.reasons[1] == (R.BLURRED,)
    assert result.reasons[3] == (R.NO_FACE,)
    assert float((result.embeddings @ result.embeddings.T).min()) > 0.8


def test_enrollment_needs_three_good_frames(engine: FaceEngine, portrait: np.ndarray) -> None:
    frames = [portrait, portrait, cv2.GaussianBlur(portrait, (0, 0), 3)]
    with pytest.raises(EnrollmentError, match="2 of 3 frames") as info:
        enroll_frames(engine, frames)
    assert info.value.reasons == {2: ("blurred",)}


def test_thresholds_come_from_the_config(engine: FaceEngine, portrait: np.ndarray) -> None:
    strict = QualityConfig(min_interocular_px=500)
    assert assess_frame(engine, portrait, strict).reasons == (R.FACE_TOO_SMALL,)

from __future__ import annotations

import numpy as np
import pytest

from biometrics.attacks.depth_maps import (
    DepthSensor,
    genuine_depth,
    posed_genuine_depth,
    screen_depth,
    sheet_depth,
)
from biometrics.engine import DetectedFace, FaceEngine
from biometrics.errors import LivenessInputError
from biometrics.face_geometry import image_grid_uv, pixels_per_iod
from biometrics.liveness.depth import (
    DEPTH_FLAT,
    DEPTH_MISSING,
    DEPTH_NOT_FACE_SHAPED,
    DEPTH_POSE,
    DEPTH_ROUGH,
    check_depth,
)

SIZE = (480, 640)


@pytest.fixture(scope="module")
def face(engine: FaceEngine, portrait: np.ndarray) -> DetectedFace:
    return engine.detect(portrait)[0]


@pytest.mark.parametrize("seed", range(8))
def test_genuine_faces_pass(face: DetectedFace, seed: int) -> None:
    rng = np.random.default_rng(seed)
    result = check_depth(genuine_depth(SIZE, face.kps, rng), face)
    assert result.passed is True, result.measurements
    assert result.reasons == ()
    assert result.score >= 0.5
    assert result.measurements["min_relief_mm"] > 6


@pytest.mark.parametrize("seed", range(4))
def test_flat_photo_is_flat(face: DetectedFace, seed: int) -> None:
    result = check_depth(sheet_depth(SIZE, face.kps, np.random.default_rng(seed), "flat"), face)
    assert result.passed is False
    assert result.reasons == (DEPTH_FLAT,)
    assert result.score < 0.5


@pytest.mark.parametrize("seed", range(4))
def test_tilted_photo_is_flat(face: DetectedFace, seed: int) -> None:
    result = check_depth(sheet_depth(SIZE, face.kps, np.random.default_rng(seed), "tilted"), face)
    assert result.passed is False
    assert DEPTH_FLAT in result.reasons


@pytest.mark.parametrize("seed", range(6))
def test_bent_photo_fails(face: DetectedFace, seed: int) -> None:
    depth = sheet_depth(SIZE, face.kps, np.random.default_rng(seed), "cylinder")
    result = check_depth(depth, face)
    assert result.passed is False
    assert {DEPTH_FLAT, DEPTH_NOT_FACE_SHAPED} & set(result.reasons)


def _tube(face: DetectedFace, radius_mm: float, axis_angle: float) -> np.ndarray:
    """A photo rolled into a tight tube around an axis through the nose."""
    u, v = image_grid_uv(SIZE, face.kps)
    across = (u * np.cos(axis_angle) + v * np.sin(axis_angle)) * 63.0
    surface = 500 + radius_mm - np.sqrt(np.clip(radius_mm**2 - across**2, 0, None))
    return np.where(np.abs(across) < radius_mm, surface, 500 + radius_mm).astype(np.float32)


@pytest.mark.parametrize("axis_angle", [0.0, np.pi / 2, np.pi / 4, 0.3])
def test_tightly_rolled_photo_is_not_face_shaped(face: DetectedFace, axis_angle: float) -> None:
    # rolled so tight that the cheeks fall 20+ mm behind the nose, like a face
    result = check_depth(_tube(face, 40.0, axis_angle), face)
    assert result.passed is False
    assert result.measurements["max_relief_mm"] > 20
    assert result.reasons in ((DEPTH_NOT_FACE_SHAPED,), (DEPTH_FLAT,)), result.measurements


def test_photo_on_a_ball_is_not_face_shaped(face: DetectedFace) -> None:
    u, v = image_grid_uv(SIZE, face.kps)
    radius = 60.0  # mm: small enough that the face's edge is 14+ mm behind its centre
    r2 = (u**2 + v**2) * 63.0**2
    ball = np.where(r2 < radius**2, 600 - np.sqrt(np.clip(radius**2 - r2, 0, None)), 600)
    result = check_depth(ball.astype(np.float32), face)
    assert result.passed is False
    assert result.reasons == (DEPTH_NOT_FACE_SHAPED,), result.measurements


@pytest.mark.parametrize("seed", range(4))
def test_screen_is_flat_or_unreadable(face: DetectedFace, seed: int) -> None:
    result = check_depth(screen_depth(SIZE, face.kps, np.random.default_rng(seed)), face)
    assert result.passed is not True
    assert {DEPTH_FLAT, DEPTH_MISSING, DEPTH_NOT_FACE_SHAPED} & set(result.reasons)


def test_no_depth_reading_is_no_evidence(face: DetectedFace) -> None:
    result = check_depth(np.zeros(SIZE, np.float32), face)
    assert result.passed is None
    assert result.reasons == (DEPTH_MISSING,)


def test_speckled_depth_is_not_smooth(face: DetectedFace) -> None:
    noisy_sensor = DepthSensor(noise_mm_at_500=20.0)
    rng = np.random.default_rng(3)
    depth = genuine_depth(SIZE, face.kps, rng, distance_mm=500, sensor=noisy_sensor)
    result = check_depth(depth, face)
    assert result.passed is False
    assert DEPTH_ROUGH in result.reasons


def test_nan_pixels_count_as_missing(face: DetectedFace) -> None:
    depth = genuine_depth(SIZE, face.kps, np.random.default_rng(0))
    depth[::4] = np.nan
    assert check_depth(depth, face).passed is True


def test_depth_map_must_be_2d(face: DetectedFace) -> None:
    with pytest.raises(LivenessInputError):
        check_depth(np.zeros((*SIZE, 3), np.float32), face)


def test_relief_model_is_placed_at_the_landmarks(face: DetectedFace) -> None:
    depth = genuine_depth(SIZE, face.kps, np.random.default_rng(0), sensor=DepthSensor(0, 1, 0))
    nose_x, nose_y = face.kps[2].round().astype(int)
    iod = pixels_per_iod(face.kps)
    cheek = depth[nose_y, int(nose_x + 0.6 * iod)]
    assert depth[nose_y, nose_x] < cheek - 15


def test_a_cut_out_photo_is_still_flat(face: DetectedFace) -> None:
    # holes cut at the cheeks show the wall behind: ignored, the rest is a sheet
    depth = sheet_depth(SIZE, face.kps, np.random.default_rng(5), "flat", distance_mm=500)
    iod = pixels_per_iod(face.kps)
    for side in (-0.6, 0.6):
        x, y = (face.kps[2] + np.array([side * iod, 0])).astype(int)
        r = int(0.2 * iod)
        depth[y - r : y + r, x - r : x + r] = 1800
    result = check_depth(depth, face)
    assert result.passed is False
    assert result.reasons == (DEPTH_FLAT,)


def test_the_wall_beside_a_turned_head_is_not_the_face(face: DetectedFace) -> None:
    depth = genuine_depth(SIZE, face.kps, np.random.default_rng(6), distance_mm=500)
    iod = pixels_per_iod(face.kps)
    x = int(face.kps[2, 0] + 0.55 * iod)  # the silhouette comes close on one side
    depth[:, x:] = 1800
    result = check_depth(depth, face)
    assert result.passed is True, result.measurements


def _posed_face(kps: np.ndarray) -> DetectedFace:
    iod = float(np.linalg.norm(kps[1] - kps[0]))
    x1, y1 = kps.min(axis=0) - np.array([0.7, 1.0]) * iod
    x2, y2 = kps.max(axis=0) + np.array([0.7, 0.7]) * iod
    return DetectedFace((float(x1), float(y1), float(x2), float(y2)), 0.9, kps)


@pytest.mark.parametrize(
    ("yaw", "pitch"), [(10, 0), (-10, 0), (15, 0), (-15, 0), (0, 10), (10, 10)]
)
def test_turned_heads_within_limits_pass(yaw: float, pitch: float) -> None:
    depth, kps = posed_genuine_depth(SIZE, yaw, pitch, np.random.default_rng(11))
    result = check_depth(depth, _posed_face(kps))
    assert result.passed is True, result.measurements


@pytest.mark.parametrize(("yaw", "pitch"), [(40, 0), (-40, 0), (0, -30)])
def test_strongly_turned_heads_give_no_evidence(yaw: float, pitch: float) -> None:
    depth, kps = posed_genuine_depth(SIZE, yaw, pitch, np.random.default_rng(12))
    result = check_depth(depth, _posed_face(kps))
    assert result.passed is None
    assert result.reasons == (DEPTH_POSE,)

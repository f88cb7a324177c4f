from __future__ import annotations

import cv2
import numpy as np
import pytest

from biometrics.attacks.head_turn import genuine_head_turn, planar_turn
from biometrics.engine import FaceEngine
from biometrics.errors import LivenessInputError
from biometrics.liveness.motion import (
    MOTION_INSUFFICIENT,
    MOTION_PLANAR,
    check_motion,
    track_landmarks,
)


@pytest.fixture(scope="module")
def kps(engine: FaceEngine, portrait: np.ndarray) -> np.ndarray:
    return engine.detect(portrait)[0].kps


def _tracks(engine: FaceEngine, frames: list[np.ndarray]) -> list[np.ndarray]:
    tracks = track_landmarks(engine, frames)
    assert tracks is not None
    assert all(t.shape == (106, 2) for t in tracks)
    return tracks


@pytest.mark.parametrize("yaws", [[0, 8, 16], [0, -10, -20]])
def test_a_turning_head_shows_parallax(
    engine: FaceEngine, portrait: np.ndarray, kps: np.ndarray, yaws: list[float]
) -> None:
    frames = genuine_head_turn(portrait, kps, yaws)
    result = check_motion(_tracks(engine, frames))
    assert result.passed is True, result.measurements
    assert result.reasons == ()
    assert result.score >= 0.5


@pytest.mark.parametrize(
    ("yaws", "pitches"), [([0, -10, -20, -30], None), ([0, 15, 30], [0, 10, 20])]
)
def test_a_turned_photo_moves_like_a_plane(
    engine: FaceEngine,
    portrait: np.ndarray,
    kps: np.ndarray,
    yaws: list[float],
    pitches: list[float] | None,
) -> None:
    frames = planar_turn(portrait, kps, yaws, pitches_deg=pitches)
    result = check_motion(_tracks(engine, frames))
    assert result.passed is False, result.measurements
    assert result.reasons == (MOTION_PLANAR,)
    assert result.score < 0.5


def test_a_photo_slid_and_rotated_in_plane_gives_no_evidence(
    engine: FaceEngine, portrait: np.ndarray
) -> None:
    frames = [portrait]
    for angle, scale, shift in ((5, 1.05, 10), (10, 1.1, 20)):
        matrix = cv2.getRotationMatrix2D((320, 240), angle, scale)
        matrix[0, 2] += shift
        frames.append(cv2.warpAffine(portrait, matrix, (640, 480), borderValue=(110, 110, 110)))
    result = check_motion(_tracks(engine, frames))
    assert result.passed is None
    assert result.reasons == (MOTION_INSUFFICIENT,)


def test_a_still_face_gives_no_evidence(engine: FaceEngine, portrait: np.ndarray) -> None:
    result = check_motion(_tracks(engine, [portrait, portrait.copy(), portrait.copy()]))
    assert result.passed is None
    assert result.reasons == (MOTION_INSUFFICIENT,)


def test_losing_the_face_breaks_the_track(engine: FaceEngine, portrait: np.ndarray) -> None:
    blank = np.full_like(portrait, 110)
    assert track_landmarks(engine, [portrait, blank]) is None


@pytest.mark.parametrize(
    "frames",
    [
        [np.zeros((106, 2))],
        [np.zeros((106, 2)), np.zeros((68, 2))],
        [np.zeros((5, 2)), np.zeros((5, 2))],
        [np.zeros((106, 2)), np.zeros((106, 2))],
    ],
)
def test_malformed_tracks_are_refused(frames: list[np.ndarray]) -> None:
    with pytest.raises(LivenessInputError):
        check_motion(frames)

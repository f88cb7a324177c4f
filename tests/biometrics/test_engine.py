from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import numpy as np
import pytest

from biometrics.engine import EMBEDDING_DIM, FaceEngine, run_in_thread
from biometrics.errors import ImageError

if TYPE_CHECKING:
    from tests.biometrics.conftest import PhotoFaces


def test_load_is_one_engine_per_pack(engine: FaceEngine) -> None:
    assert FaceEngine.load() is engine
    assert engine.pack_id.startswith("w600k_mbf-")


def test_every_player_is_detected_and_embedded(players_faces: PhotoFaces) -> None:
    faces, emb = players_faces.faces, players_faces.embeddings
    assert len(faces) == 22
    assert emb.shape == (22, EMBEDDING_DIM)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    for face in faces:
        assert face.kps.shape == (5, 2)
        x1, y1, x2, y2 = face.bbox
        # the eyes lie inside the box: landmarks and boxes describe the same face
        assert x1 <= face.kps[0, 0] <= x2
        assert y1 <= face.kps[0, 1] <= y2
        assert face.landmarks106 is not None
        assert face.landmarks106.shape == (106, 2)


def test_different_players_do_not_look_alike(players_faces: PhotoFaces) -> None:
    sims = players_faces.embeddings @ players_faces.embeddings.T
    off_diagonal = sims[~np.eye(len(sims), dtype=bool)]
    assert off_diagonal.max() < 0.5


def test_batched_embedding_equals_one_by_one(engine: FaceEngine, t1_faces: PhotoFaces) -> None:
    one_by_one = np.vstack([engine.embed(t1_faces.image, [f]) for f in t1_faces.faces])
    np.testing.assert_allclose(one_by_one, t1_faces.embeddings, atol=1e-4)


def test_same_face_embeds_alike_after_rescaling(engine: FaceEngine, tom_hanks: PhotoFaces) -> None:
    import cv2

    smaller = cv2.resize(tom_hanks.image, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    face = engine.largest_face(smaller)
    assert face is not None
    similarity = float(engine.embed(smaller, [face])[0] @ tom_hanks.embeddings[0])
    assert similarity > 0.7


def test_landmarks106_follow_the_face(engine: FaceEngine, tom_hanks: PhotoFaces) -> None:
    face = tom_hanks.faces[0]
    points = engine.landmarks106(tom_hanks.image, face)
    assert points.shape == (106, 2)
    x1, y1, x2, y2 = face.bbox
    inside = (points[:, 0] > x1 - 0.1 * face.width) & (points[:, 0] < x2 + 0.1 * face.width)
    inside &= (points[:, 1] > y1 - 0.1 * face.height) & (points[:, 1] < y2 + 0.1 * face.height)
    assert inside.mean() > 0.95


def test_no_face_in_a_blank_image(engine: FaceEngine) -> None:
    assert engine.detect(np.full((480, 640, 3), 128, np.uint8)) == []
    assert engine.embed(np.zeros((480, 640, 3), np.uint8), []).shape == (0, EMBEDDING_DIM)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((1, 1, 3), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((5, 5, 2), np.uint8),
    ],
)
def test_bad_arrays_are_refused(engine: FaceEngine, bad: np.ndarray) -> None:
    with pytest.raises(ImageError):
        engine.detect(bad)


async def test_async_calls_leave_the_loop_free(engine: FaceEngine, tom_hanks: PhotoFaces) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    faces = await engine.adetect(tom_hanks.image)
    emb = await engine.aembed(tom_hanks.image, faces)
    task.cancel()
    assert len(faces) == 1
    np.testing.assert_allclose(emb, tom_hanks.embeddings, atol=1e-4)
    assert ticks > 0
    assert await run_in_thread(sum, [1, 2]) == 3

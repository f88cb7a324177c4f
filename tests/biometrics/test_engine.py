from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from biometrics.engine import EMBEDDING_DIM, DetectedFace, FaceEngine, run_in_thread
from biometrics.errors import ImageError, ModelPackError
from biometrics.model_pack import inspect_pack

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


def test_threads_share_one_engine_safely(engine: FaceEngine, t1_faces: PhotoFaces) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(_: int) -> np.ndarray:
        faces = sorted(engine.detect(t1_faces.image), key=lambda f: f.bbox[0])
        return engine.embed(t1_faces.image, faces)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(4)))
    for result in results:
        np.testing.assert_allclose(result, t1_faces.embeddings, atol=1e-4)


def test_corrupt_model_file_is_a_clear_error(tmp_path: Path) -> None:
    for name in ("scrfd_500m_bnkps.onnx", "w600k_mbf.onnx"):
        # starts like an ONNX protobuf, then garbage: passes the cheap header check
        (tmp_path / name).write_bytes(b"\x08\x07" + bytes(range(256)) * 4)
    broken = FaceEngine(inspect_pack(tmp_path))
    with pytest.raises(ModelPackError, match="cannot load detector"):
        broken.detect(np.zeros((64, 64, 3), np.uint8))


def test_pack_without_landmark_model_says_so(tmp_path: Path) -> None:
    from biometrics.model_pack import default_pack_dir

    for name in ("scrfd_500m_bnkps.onnx", "w600k_mbf.onnx"):
        (tmp_path / name).symlink_to(default_pack_dir() / name)
    partial = FaceEngine.load(inspect_pack(tmp_path))
    assert not partial.has_landmarks106
    image = np.zeros((64, 64, 3), np.uint8)
    face = DetectedFace((0, 0, 10, 10), 0.9, np.zeros((5, 2), np.float32))
    with pytest.raises(ModelPackError, match="no 106-point landmark model"):
        partial.landmarks106(image, face)


@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((480, 640, 3), (640, 480)),
        ((800, 1237, 3), (640, 416)),
        ((1280, 720, 3), (384, 640)),
        ((640, 640, 3), (640, 640)),
        ((40, 4000, 3), (640, 32)),
    ],
)
def test_detector_input_keeps_the_aspect(
    shape: tuple[int, int, int], size: tuple[int, int]
) -> None:
    from biometrics.engine import detector_input_size

    assert detector_input_size(shape, 640) == size

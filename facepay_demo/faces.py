"""Demo faces from the real photos that ship inside the installed packages.

Each person gets phone-style enrollment photos and front-camera frames: the
same face, drawn with different random camera conditions, so the cabinet
never sees a photo that was enrolled. Nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from biometrics.camera_augment import AugmentRanges, camera_frame
from biometrics.engine import FaceEngine
from biometrics.face_samples import SourceFace, load_source_faces

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
Bbox = tuple[float, float, float, float]

FRONT_SIZE = (640, 480)  # width, height of the cabinet's front camera
FRONT_FACE_PX = 130.0  # a customer standing at the cabinet
# Phone photos: a clear face, moderate variation.
PHONE = AugmentRanges(
    face_px=(110.0, 160.0),
    rotation_deg=(-6.0, 6.0),
    gain=(0.8, 1.2),
    blur_sigma=(0.0, 0.6),
    noise_sigma=(0.0, 3.0),
    jpeg_quality=(70, 92),
    max_upscale=2.5,
)


@dataclass(frozen=True)
class FrontFrame:
    """A front-camera frame and where the face's five landmarks are in it (what a
    depth camera registered to the colour camera sees as the head)."""

    image: ImageArray
    kps: FloatArray


def _affine(matrix: npt.NDArray[Any], points: FloatArray) -> FloatArray:
    return np.asarray(points @ matrix[:, :2].T + matrix[:, 2], dtype=np.float32)


def isolate(source: SourceFace, mirrored: bool = False) -> tuple[ImageArray, Bbox, FloatArray]:
    """The one face of a group photo, standing alone before a plain wall.

    An elliptical, feathered cut-out around the head on a uniform background,
    so neighbours in the photo never enter a frame as a second face.
    """
    x1, y1, x2, y2 = source.face.bbox
    w, h = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = round(4 * max(w, h))
    # Level the eyes: a customer stands upright in front of the cabinet.
    (lx, ly), (rx, ry) = source.face.kps[0], source.face.kps[1]
    roll = float(np.degrees(np.arctan2(ry - ly, rx - lx)))
    matrix = cv2.getRotationMatrix2D((cx, cy), roll, 1.0)
    matrix[0, 2] += side / 2 - cx
    matrix[1, 2] += side / 2 - cy
    canvas = cv2.warpAffine(
        source.image, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    ).astype(np.float32)
    ellipse = np.zeros((side, side), np.float32)
    cv2.ellipse(ellipse, (side // 2, side // 2), (int(0.8 * w), int(1.0 * h)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(ellipse, (0, 0), 0.08 * w)[..., None]
    wall = np.full_like(canvas, 180.0)
    image = np.clip(canvas * mask + wall * (1 - mask), 0, 255).astype(np.uint8)
    box = (side / 2 - w / 2, side / 2 - h / 2, side / 2 + w / 2, side / 2 + h / 2)
    kps = _affine(matrix, np.asarray(source.face.kps, dtype=np.float32))
    if mirrored:
        image = np.ascontiguousarray(image[:, ::-1])
        kps[:, 0] = side - 1 - kps[:, 0]
        kps = kps[[1, 0, 2, 4, 3]]  # left and right swap places in a mirror
    return image, box, kps


@dataclass(frozen=True)
class DemoFace:
    identity: str
    source: SourceFace
    mirrored: bool = False

    def phone_photos(self, count: int, seed: int) -> list[bytes]:
        """JPEG bytes, as a phone would upload them for enrollment."""
        rng = np.random.default_rng(seed)
        image, bbox, _ = isolate(self.source, self.mirrored)
        photos = []
        for _ in range(count):
            frame = camera_frame(image, bbox, rng, PHONE)
            ok, encoded = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            assert ok
            photos.append(encoded.tobytes())
        return photos

    def front_frames(self, count: int, seed: int) -> list[FrontFrame]:
        """Front-camera frames: the face centred (where the depth camera sees a head),
        with small per-frame changes of position, light and sensor noise."""
        rng = np.random.default_rng(seed)
        image, (x1, y1, x2, y2), kps = isolate(self.source, self.mirrored)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        scale = FRONT_FACE_PX / max(x2 - x1, 1.0)
        frames = []
        for _ in range(count):
            angle = float(rng.uniform(-4, 4))
            matrix = cv2.getRotationMatrix2D(
                (cx, cy), angle, scale * float(rng.uniform(0.95, 1.05))
            )
            matrix[0, 2] += FRONT_SIZE[0] / 2 + float(rng.uniform(-6, 6)) - cx
            matrix[1, 2] += FRONT_SIZE[1] / 2 + float(rng.uniform(-6, 6)) - cy
            frame = cv2.warpAffine(
                image,
                matrix,
                FRONT_SIZE,
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT_101,
            ).astype(np.float32)
            frame = frame * float(rng.uniform(0.85, 1.15)) + rng.normal(0, 2.0, frame.shape)
            shot = np.clip(frame, 0, 255).astype(np.uint8)
            frames.append(FrontFrame(shot, _affine(matrix, kps)))
        return frames


def demo_faces(engine: FaceEngine) -> dict[str, DemoFace]:
    """The people of the demo, by role: faces of the shipped photos that a cabinet
    would accept (frontal enough, large enough)."""
    sources = {
        s.identity: s for s in load_source_faces(engine, ("t1.jpg", "yaoming.jpg", "gdp.jpg"))
    }
    yao = next(s for s in sources.values() if s.photo == "yaoming.jpg")
    return {
        "minji": DemoFace("t1.jpg#00", sources["t1.jpg#00"]),
        "seojun": DemoFace("gdp.jpg#02", sources["gdp.jpg#02"]),
        "hyunwoo": DemoFace("gdp.jpg#04", sources["gdp.jpg#04"]),
        "stranger": DemoFace("t1.jpg#05", sources["t1.jpg#05"]),
        # Identical twins: one photo and its mirror image give nearly the same
        # embedding, so telling them apart needs the step-up digits.
        "yao": DemoFace("yao", yao),
        "yao_twin": DemoFace("yao-mirrored", yao, mirrored=True),
    }

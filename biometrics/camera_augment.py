"""Cabinet-camera augmentations of a face in a real photo.

A cabinet's front camera sees a face at a modest resolution, a little rotated,
off-centre, through a cheap lens with sensor noise, variable exposure and JPEG
compression. These augmentations turn one face in a still photo into many such
frames, so calibration and tests compare independent-looking captures of the
same person rather than one pixel-identical image. Seeded: the same generator
state gives the same frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

ImageArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class AugmentRanges:
    """Uniform ranges each frame's parameters are drawn from."""

    context: tuple[float, float] = (2.0, 3.2)  # crop side / face width
    offset: tuple[float, float] = (-0.25, 0.25)  # face centre shift, in face widths
    rotation_deg: tuple[float, float] = (-10.0, 10.0)
    face_px: tuple[float, float] = (56.0, 140.0)  # face width in the output frame
    max_upscale: float = 2.0  # a tiny source face is not blown up into a blob
    min_frame_px: int = 320  # small faces get more context, as in a real frame
    gain: tuple[float, float] = (0.6, 1.4)
    gamma: tuple[float, float] = (0.75, 1.35)
    blur_sigma: tuple[float, float] = (0.0, 1.2)
    noise_sigma: tuple[float, float] = (0.0, 6.0)
    jpeg_quality: tuple[int, int] = (35, 90)

    def describe(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class CameraFrame:
    image: ImageArray
    face_centre: tuple[float, float]  # where the source face's centre landed
    face_width: float  # the source face's width in this frame
    params: dict[str, float]


def _draw(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def camera_frame(
    image: ImageArray,
    bbox: tuple[float, float, float, float],
    rng: np.random.Generator,
    ranges: AugmentRanges | None = None,
) -> CameraFrame:
    """One simulated cabinet frame around the face at ``bbox`` in ``image``."""
    r = ranges or AugmentRanges()
    x1, y1, x2, y2 = bbox
    face_w = max(x2 - x1, 1.0)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    p = {
        "context": _draw(rng, r.context),
        "offset_x": _draw(rng, r.offset),
        "offset_y": _draw(rng, r.offset),
        "rotation_deg": _draw(rng, r.rotation_deg),
        "face_px": _draw(rng, r.face_px),
        "gain": _draw(rng, r.gain),
        "gamma": _draw(rng, r.gamma),
        "blur_sigma": _draw(rng, r.blur_sigma),
        "noise_sigma": _draw(rng, r.noise_sigma),
        "jpeg_quality": float(rng.integers(r.jpeg_quality[0], r.jpeg_quality[1] + 1)),
    }
    p["face_px"] = min(p["face_px"], r.max_upscale * face_w)
    scale = p["face_px"] / face_w
    side = max(round(p["face_px"] * p["context"]), r.min_frame_px)
    # Rotate and scale about the face centre, then put that centre at the
    # (offset) middle of the output frame.
    matrix = cv2.getRotationMatrix2D((cx, cy), p["rotation_deg"], scale)
    out_cx = side / 2 - p["offset_x"] * p["face_px"]
    out_cy = side / 2 - p["offset_y"] * p["face_px"]
    matrix[0, 2] += out_cx - cx
    matrix[1, 2] += out_cy - cy
    frame = cv2.warpAffine(
        image, matrix, (side, side), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT_101
    )
    work = frame.astype(np.float32) / 255.0
    work = np.clip(work * p["gain"], 0.0, 1.0) ** p["gamma"]
    if p["blur_sigma"] > 0.3:
        work = cv2.GaussianBlur(work, (0, 0), p["blur_sigma"])
    work = work * 255.0 + rng.normal(0.0, p["noise_sigma"], size=work.shape).astype(np.float32)
    frame = np.clip(work, 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(p["jpeg_quality"])])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise RuntimeError("JPEG encoding failed")
    decoded = np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR), dtype=np.uint8)
    return CameraFrame(decoded, (out_cx, out_cy), p["face_px"], p)

"""What a camera sees when a face is presented as a print or on a screen.

Each transform takes a genuine BGR frame and returns the recaptured frame:
printing adds halftone dots, a paper tint and the print's lower resolution;
a screen adds a colour cast, moire from its pixel grid beating against the
sensor's, a specular glare patch and recapture blur. Parameters are drawn
from the given random generator so a suite is reproducible.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

ImageArray = npt.NDArray[np.uint8]


def _recapture_blur(
    image: ImageArray, rng: np.random.Generator, low: float, high: float
) -> ImageArray:
    factor = float(rng.uniform(low, high))
    rows, cols = image.shape[:2]
    small = cv2.resize(
        image,
        (max(8, int(cols / factor)), max(8, int(rows / factor))),
        interpolation=cv2.INTER_AREA,
    )
    return np.asarray(cv2.resize(small, (cols, rows), interpolation=cv2.INTER_LINEAR), np.uint8)


def _jpeg(image: ImageArray, quality: int) -> ImageArray:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        return image
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR), np.uint8)


def printed_photo(image: ImageArray, rng: np.random.Generator) -> ImageArray:
    """A photo printed on paper (halftone, paper tint, ink gamut) and re-captured."""
    rows, cols = image.shape[:2]
    degraded = _recapture_blur(image, rng, 1.5, 3.0).astype(np.float32)
    period = float(rng.uniform(3.0, 5.0))
    angle = float(rng.uniform(0, np.pi))
    ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float32)
    along = xs * np.cos(angle) + ys * np.sin(angle)
    across = -xs * np.sin(angle) + ys * np.cos(angle)
    screen = (np.cos(2 * np.pi * along / period) * np.cos(2 * np.pi * across / period) + 1) / 2
    # A darker tone covers more of each halftone cell.
    ink = degraded / 255.0
    dots = np.clip((ink - screen[..., None] * 0.6) / 0.4, 0, 1) * 0.5 + ink * 0.5
    tint = np.array([rng.uniform(0.86, 0.95), rng.uniform(0.92, 0.99), 1.0], np.float32)
    paper = dots * tint * float(rng.uniform(0.8, 0.95)) + float(rng.uniform(0.03, 0.08))
    return _jpeg(np.clip(paper * 255, 0, 255).astype(np.uint8), int(rng.integers(60, 90)))


def _glare(image: npt.NDArray[np.float32], rng: np.random.Generator) -> npt.NDArray[np.float32]:
    rows, cols = image.shape[:2]
    cx, cy = float(rng.uniform(0.2, 0.8) * cols), float(rng.uniform(0.2, 0.8) * rows)
    sigma = float(rng.uniform(0.08, 0.2) * min(rows, cols))
    ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float32)
    spot = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2))
    return np.asarray(image + float(rng.uniform(80, 160)) * spot[..., None], np.float32)


def screen_replay(image: ImageArray, rng: np.random.Generator) -> ImageArray:
    """The face shown on a phone or tablet screen and re-captured by the camera."""
    rows, cols = image.shape[:2]
    degraded = _recapture_blur(image, rng, 1.3, 2.5).astype(np.float32)
    cast = np.array(
        [rng.uniform(1.0, 1.15), rng.uniform(0.95, 1.05), rng.uniform(0.8, 0.95)], np.float32
    )
    lit = degraded * cast * float(rng.uniform(0.9, 1.15)) + float(rng.uniform(5, 25))
    # Two gratings of slightly different pitch and angle beat into moire fringes.
    ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float32)
    period = float(rng.uniform(2.5, 4.0))
    angle = float(rng.uniform(-0.2, 0.2))
    phase = (xs * np.cos(angle) + ys * np.sin(angle)) * (2 * np.pi / period)
    beat = np.cos(phase) * np.cos(phase * float(rng.uniform(1.02, 1.08)))
    lit = lit * (1 + float(rng.uniform(0.06, 0.14)) * beat[..., None])
    lit = _glare(lit, rng)
    return _jpeg(np.clip(lit, 0, 255).astype(np.uint8), int(rng.integers(50, 85)))


def camera_capture(frame: ImageArray, rng: np.random.Generator) -> ImageArray:
    """One frame as the cabinet camera records it: optics blur and sensor noise.

    Applied to every frame of a sequence, genuine or attack, so that no frame
    is sharper than the others just because it was not resampled.
    """
    blurred = cv2.GaussianBlur(frame, (0, 0), float(rng.uniform(0.5, 0.9))).astype(np.float32)
    noisy = blurred + rng.normal(0.0, float(rng.uniform(1.0, 3.0)), frame.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)

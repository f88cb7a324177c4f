"""Decoding untrusted image bytes without crashing or exhausting memory.

The dimensions are read from the file header BEFORE anything is decoded, so a
20000x20000 "decompression bomb" is refused at the cost of a few bytes read.
Only the formats whose headers are parsed here are accepted (JPEG, PNG, BMP,
WebP): a format we cannot size up front is a format we cannot bound.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from biometrics.errors import ImageError

ImageArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 30 * 1024 * 1024
    max_pixels: int = 50_000_000  # a 50 MP phone photo; 20000x20000 is 400 MP
    min_side: int = 32  # below this no face can be found
    # Larger images are shrunk after decoding: detection runs at 640 px and a
    # face needs ~112 px, so more resolution only costs memory and time.
    max_side: int = 2560


DEFAULT_LIMITS = ImageLimits()


@dataclass(frozen=True)
class ImageHeader:
    format: str  # "jpeg" | "png" | "bmp" | "webp"
    width: int
    height: int


def _jpeg_size(data: bytes) -> tuple[int, int]:
    # Walk the marker segments to the first start-of-frame (SOF0..SOF15 except
    # DHT/JPG/DAC, which share the range) and read its height and width.
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ImageError("corrupt", "JPEG marker structure is broken")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if length < 2:
            raise ImageError("corrupt", "JPEG segment has an invalid length")
        pos += 2 + length
    raise ImageError("corrupt", "JPEG has no frame header (truncated or corrupt)")


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    raise ImageError("corrupt", "WebP header is truncated or unknown")


def read_header(data: bytes) -> ImageHeader:
    """Format and dimensions from the first bytes of an image file."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageError("corrupt", "PNG header is truncated")
        width, height = struct.unpack(">II", data[16:24])
        return ImageHeader("png", width, height)
    if data.startswith(b"\xff\xd8"):
        return ImageHeader("jpeg", *_jpeg_size(data))
    if data.startswith(b"BM"):
        if len(data) < 26:
            raise ImageError("corrupt", "BMP header is truncated")
        width, height = struct.unpack("<ii", data[18:26])
        return ImageHeader("bmp", abs(width), abs(height))
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return ImageHeader("webp", *_webp_size(data))
    raise ImageError("not_an_image", "not a JPEG, PNG, BMP or WebP image")


def _reduced_flag(header: ImageHeader, max_side: int) -> tuple[int, int]:
    # libjpeg can decode at 1/2, 1/4, 1/8 scale directly, never holding the full image.
    if header.format != "jpeg":
        return cv2.IMREAD_COLOR, 1
    longest = max(header.width, header.height)
    for factor, flag in (
        (8, cv2.IMREAD_REDUCED_COLOR_8),
        (4, cv2.IMREAD_REDUCED_COLOR_4),
        (2, cv2.IMREAD_REDUCED_COLOR_2),
    ):
        if longest // factor >= max_side:
            return flag, factor
    return cv2.IMREAD_COLOR, 1


def decode_image(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> ImageArray:
    """Decode untrusted bytes to a BGR uint8 image, or raise ImageError with a reason."""
    if not data:
        raise ImageError("empty", "the image is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise ImageError(
            "too_large", f"the image file is {len(data)} bytes, over the {limits.max_bytes} limit"
        )
    header = read_header(data)
    if header.width <= 0 or header.height <= 0:
        raise ImageError("corrupt", f"the {header.format} header has no dimensions")
    if min(header.width, header.height) < limits.min_side:
        raise ImageError(
            "too_small",
            f"the image is {header.width}x{header.height}; "
            f"each side must be at least {limits.min_side} px",
        )
    if header.width * header.height > limits.max_pixels:
        raise ImageError(
            "too_large",
            f"the image is {header.width}x{header.height} "
            f"({header.width * header.height} pixels), over the {limits.max_pixels} pixel limit",
        )
    flag, factor = _reduced_flag(header, limits.max_side)
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, flag)
    except cv2.error as exc:
        raise ImageError("corrupt", f"the {header.format} image cannot be decoded: {exc}") from exc
    if image is None or image.ndim != 3 or image.shape[2] != 3:
        raise ImageError("corrupt", f"the {header.format} image cannot be decoded")
    expected = (-(-header.height // factor), -(-header.width // factor))
    # OpenCV applies the EXIF orientation (phone photos), which may swap the sides.
    if not any(
        abs(image.shape[0] - rows) <= 1 and abs(image.shape[1] - cols) <= 1
        for rows, cols in (expected, expected[::-1])
    ):
        raise ImageError("corrupt", "the decoded size does not match the header")
    return _fit(np.asarray(image, dtype=np.uint8), limits.max_side)


def _fit(image: ImageArray, max_side: int) -> ImageArray:
    longest = max(image.shape[:2])
    if longest <= max_side:
        return image
    scale = max_side / longest
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.asarray(resized, dtype=np.uint8)


def read_image(path: str | Path, limits: ImageLimits = DEFAULT_LIMITS) -> ImageArray:
    """Read and decode an image file; a missing or unreadable file is an ImageError too."""
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > limits.max_bytes:
            raise ImageError(
                "too_large", f"{file} is {size} bytes, over the {limits.max_bytes} limit"
            )
        data = file.read_bytes()
    except OSError as exc:
        raise ImageError("unreadable", f"cannot read {file}: {exc.strerror or exc}") from exc
    try:
        return decode_image(data, limits)
    except ImageError as exc:
        raise ImageError(exc.reason, f"{file}: {exc}") from exc

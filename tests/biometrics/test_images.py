from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from biometrics.errors import ImageError
from biometrics.images import ImageLimits, decode_image, read_header, read_image


def _encode(image: np.ndarray, ext: str) -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


def _patch_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".webp"])
def test_every_supported_format_decodes_with_header_size(photo: np.ndarray, ext: str) -> None:
    data = _encode(photo, ext)
    header = read_header(data)
    assert (header.width, header.height) == (640, 480)
    assert decode_image(data).shape == (480, 640, 3)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"hello, this is plain text and not an image at all", "not_an_image"),
        (b"GIF89a\x01\x00\x01\x00", "not_an_image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "corrupt"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "corrupt"),
    ],
)
def test_bytes_that_are_not_an_image(data: bytes, reason: str) -> None:
    with pytest.raises(ImageError) as info:
        decode_image(data)
    assert info.value.reason == reason
    assert str(info.value)


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_one_pixel_image_is_too_small(ext: str) -> None:
    with pytest.raises(ImageError, match="at least 32 px") as info:
        decode_image(_encode(np.zeros((1, 1, 3), np.uint8), ext))
    assert info.value.reason == "too_small"


def test_20000_square_png_is_refused_before_decoding(huge_png: Callable[[int, int], bytes]) -> None:
    data = huge_png(20000, 20000)  # ~1.2 GB once decoded
    assert len(data) < 8_000_000
    with pytest.raises(ImageError, match="pixel limit") as info:
        decode_image(data)
    assert info.value.reason == "too_large"


def test_jpeg_claiming_20000_square_is_refused(photo: np.ndarray) -> None:
    data = _patch_jpeg_size(_encode(photo, ".jpg"), 20000, 20000)
    with pytest.raises(ImageError) as info:
        decode_image(data)
    assert info.value.reason == "too_large"


def test_the_header_bounds_what_is_decoded(photo: np.ndarray) -> None:
    # libjpeg trusts the frame header: a small header over big data decodes small
    data = _patch_jpeg_size(_encode(photo, ".jpg"), 100, 100)
    assert decode_image(data).shape == (100, 100, 3)


def test_truncated_jpeg_is_corrupt(photo: np.ndarray) -> None:
    data = _encode(photo, ".jpg")
    with pytest.raises(ImageError) as info:
        decode_image(data[: len(data) // 3])
    assert info.value.reason == "corrupt"


def test_file_over_the_byte_limit(tmp_path: Path, photo: np.ndarray) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(_encode(photo, ".png"))
    with pytest.raises(ImageError) as info:
        read_image(path, ImageLimits(max_bytes=1000))
    assert info.value.reason == "too_large"


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as info:
        read_image(tmp_path / "nope.jpg")
    assert info.value.reason == "unreadable"


def test_large_jpeg_is_decoded_reduced(photo: np.ndarray) -> None:
    big = cv2.resize(photo, (4000, 3000), interpolation=cv2.INTER_NEAREST)
    image = decode_image(_encode(big, ".jpg"), ImageLimits(max_side=1000))
    assert max(image.shape[:2]) == 1000


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    tiff = (
        b"II*\x00"
        + struct.pack("<I", 8)
        + struct.pack("<H", 1)
        + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
        + struct.pack("<I", 0)
    )
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def test_phone_photo_rotated_by_exif_is_upright(photo: np.ndarray) -> None:
    data = _with_exif_orientation(_encode(photo, ".jpg"), 6)  # "rotate 90 clockwise"
    assert (read_header(data).width, read_header(data).height) == (640, 480)
    assert decode_image(data).shape == (640, 480, 3)

"""Everything recognition needs from one session, recorded so it survives a
power cut: scale samples per shelf, before/after shelf frames, door times."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import msgspec
import numpy as np

from cabinet_runtime.hardware.interfaces import BgrFrame, ScaleSample


class ShelfRecording(msgspec.Struct):
    shelf_id: str
    samples: list[tuple[float, float]] = msgspec.field(default_factory=list)
    before_jpeg: bytes | None = None
    after_jpeg: bytes | None = None

    def add(self, samples: list[ScaleSample]) -> None:
        self.samples.extend((s.t, s.grams) for s in samples)

    def times_grams(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.samples:
            return np.empty(0), np.empty(0)
        arr = np.asarray(self.samples, dtype=np.float64)
        return arr[:, 0], arr[:, 1]


class SessionRecording(msgspec.Struct):
    shelves: dict[str, ShelfRecording]
    opened_at: float | None = None
    """When the door opened (or, failing that, when the lock was released)."""
    closed_at: float | None = None


JPEG_QUALITY = 95


def encode_frame(frame: BgrFrame | None) -> bytes | None:
    if frame is None:
        return None
    # high-quality JPEG, as shelf cameras deliver it: a twentieth of PNG's cost
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("cannot encode frame")
    return bytes(buf.tobytes())


def decode_frame(data: bytes | None) -> BgrFrame | None:
    if data is None:
        return None
    frame = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    return None if frame is None else np.asarray(frame, dtype=np.uint8)


def save_recording(recording: SessionRecording, path: Path, durable: bool = True) -> None:
    """Atomic write: a power cut leaves either the old file or the new one.

    ``durable=False`` skips the fsync; it survives a killed process but not a
    crashed kernel, which is enough for simulations.
    """
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(msgspec.msgpack.encode(recording))
        fh.flush()
        if durable:
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_recording(path: Path) -> SessionRecording:
    return msgspec.msgpack.decode(path.read_bytes(), type=SessionRecording)

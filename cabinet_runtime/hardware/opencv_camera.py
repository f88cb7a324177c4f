"""Cameras backed by OpenCV ``VideoCapture``: a device index or a video file."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from cabinet_runtime.hardware.interfaces import BgrFrame, DeviceHealth


class OpenCVCamera:
    """A front camera (``read``) reading a device (int) or a file/URL (str).

    A file is replayed from the start when it ends, when ``loop`` is set, so
    a recorded clip can stand in for a camera. The capture is opened lazily
    and reopened after a failure.
    """

    def __init__(self, source: int | str, name: str = "front_camera", loop: bool = True) -> None:
        self._source = source
        self._name = name
        self._loop = loop and isinstance(source, str)
        self._capture: cv2.VideoCapture | None = None
        self._lock = threading.Lock()
        self._last_error = ""

    def _open(self) -> cv2.VideoCapture | None:
        if self._capture is None or not self._capture.isOpened():
            capture = cv2.VideoCapture(self._source)
            if not capture.isOpened():
                self._last_error = f"cannot open video source {self._source!r}"
                return None
            self._capture = capture
        return self._capture

    def read(self) -> BgrFrame | None:
        with self._lock:
            capture = self._open()
            if capture is None:
                return None
            ok, frame = capture.read()
            if not ok and self._loop:
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = capture.read()
            if not ok or frame is None:
                self._last_error = "no frame from video source"
                return None
            self._last_error = ""
            return np.asarray(frame, dtype=np.uint8)

    def close(self) -> None:
        with self._lock:
            if self._capture is not None:
                self._capture.release()
                self._capture = None

    def health(self) -> DeviceHealth:
        return DeviceHealth(self._name, not self._last_error, self._last_error)


class OpenCVShelfCamera:
    """A shelf camera on an OpenCV source; ``capture`` grabs the next frame."""

    def __init__(self, shelf_id: str, source: int | str) -> None:
        self._shelf_id = shelf_id
        self._camera = OpenCVCamera(source, name=f"shelf_camera:{shelf_id}")

    @property
    def shelf_id(self) -> str:
        return self._shelf_id

    def capture(self) -> BgrFrame | None:
        return self._camera.read()

    def health(self) -> DeviceHealth:
        return self._camera.health()

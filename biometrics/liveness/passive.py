"""Passive liveness: an optional ONNX anti-spoofing model (MiniFASNet-style).

Preprocessing follows the model's documented contract: a square crop 1.5x the
face box's longer side, centred on the box, with reflect-101 borders; RGB,
128x128, scaled to [0, 1]; raw logits out, index 0 = live. The model is not
shipped with the project and never looked for: its path comes from configuration
(or FACEPAY_ANTISPOOF_MODEL). The tests use a MiniFASNet model kept outside the
repository; its PROVENANCE.md states its licence caveat.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from biometrics.engine import DetectedFace, as_bgr
from biometrics.errors import LivenessModelError
from biometrics.liveness.result import CheckResult, ramp

MODEL_ENV = "FACEPAY_ANTISPOOF_MODEL"
CROP_SCALE = 1.5
PASSIVE_SPOOF = "passive_spoof"


def configured_model_path() -> Path | None:
    """FACEPAY_ANTISPOOF_MODEL, or None: a product reads only what it is configured with,
    never a path beside its install."""
    configured = os.environ.get(MODEL_ENV)
    return Path(configured) if configured else None


def crop_for_model(
    image_bgr: npt.NDArray[np.uint8], face: DetectedFace, size: int
) -> npt.NDArray[np.uint8]:
    """The model's input crop (BGR, ``size`` x ``size``)."""
    x1, y1, x2, y2 = face.bbox
    side = CROP_SCALE * max(x2 - x1, y2 - y1)
    left, top = (x1 + x2) / 2 - side / 2, (y1 + y2) / 2 - side / 2
    native = max(round(side), 1)
    shift = np.array([[1.0, 0.0, -left], [0.0, 1.0, -top]])
    square = cv2.warpAffine(
        image_bgr,
        shift,
        (native, native),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    interpolation = cv2.INTER_LANCZOS4 if native < size else cv2.INTER_AREA
    return np.asarray(cv2.resize(square, (size, size), interpolation=interpolation), np.uint8)


class PassiveModel:
    """An anti-spoofing ONNX model; sessions are created once per path."""

    _lock = threading.Lock()
    _loaded: dict[Path, PassiveModel] = {}  # noqa: RUF012 - process-wide cache

    def __init__(self, path: Path, session: Any) -> None:
        self.path = path
        self._session = session
        inputs = session.get_inputs()
        shape = inputs[0].shape
        if (
            len(inputs) != 1
            or len(shape) != 4
            or shape[2] != shape[3]
            or not isinstance(shape[2], int)
        ):
            raise LivenessModelError(f"{path} does not take one square NCHW image input: {shape}")
        self.input_name = inputs[0].name
        self.size = int(shape[2])

    @classmethod
    def load(cls, path: str | Path | None = None) -> PassiveModel:
        chosen = Path(path) if path is not None else configured_model_path()
        if chosen is None:
            raise LivenessModelError(
                f"no passive liveness model configured (set {MODEL_ENV} or the model path)"
            )
        resolved = chosen.expanduser().resolve()
        with cls._lock:
            model = cls._loaded.get(resolved)
            if model is None:
                model = cls(resolved, cls._open_session(resolved))
                cls._loaded[resolved] = model
            return model

    @staticmethod
    def _open_session(path: Path) -> Any:
        import onnxruntime

        if not path.is_file():
            raise LivenessModelError(f"passive liveness model {path} does not exist")
        options = onnxruntime.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # see engine
        try:
            return onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types for bad files
            raise LivenessModelError(f"cannot load passive liveness model {path}: {exc}") from exc

    def live_probability(
        self, image_bgr: npt.NDArray[Any], faces: Sequence[DetectedFace]
    ) -> npt.NDArray[np.float32]:
        """P(live) per face, in one batched run."""
        if not faces:
            return np.empty((0,), np.float32)
        image = as_bgr(image_bgr)
        crops = [crop_for_model(image, face, self.size) for face in faces]
        rgb = np.stack([cv2.cvtColor(c, cv2.COLOR_BGR2RGB) for c in crops]).astype(np.float32)
        blob = np.ascontiguousarray(rgb.transpose(0, 3, 1, 2) / 255.0, dtype=np.float32)
        logits = np.asarray(self._session.run(None, {self.input_name: blob})[0], np.float64)
        if logits.ndim != 2 or logits.shape[1] != 2:
            raise LivenessModelError(f"{self.path} returned logits of shape {logits.shape}")
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return np.asarray(shifted[:, 0] / shifted.sum(axis=1), np.float32)


@dataclass(frozen=True)
class PassiveConfig:
    threshold: float = 0.5  # P(live); upstream suggests up to 0.8 for high security


def check_passive(
    model: PassiveModel,
    image_bgr: npt.NDArray[Any],
    face: DetectedFace,
    config: PassiveConfig = PassiveConfig(),
) -> CheckResult:
    probability = float(model.live_probability(image_bgr, [face])[0])
    score = ramp(probability, config.threshold, 1.0)
    passed = probability >= config.threshold
    reasons = () if passed else (PASSIVE_SPOOF,)
    return CheckResult("passive", score, passed, reasons, {"live_probability": probability})

"""The cabinet's identifier is built from cabinet.toml: a passive anti-spoofing model is
used when ``antispoof_model`` names one, and only then (it was parsed and ignored)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from biometrics.errors import LivenessModelError
from biometrics.model_pack import default_pack_dir
from cabinet_runtime.config import load_config
from cabinet_runtime.identification import FaceEvidence
from cabinet_runtime.runtime import build_identifier
from facepay_demo.rig import cabinet_toml

MODEL_NAME = "minifasnet_v2se_128_fp32.onnx"


def _shared_model() -> Path | None:
    """Tests may read the shared test model (the product never does)."""
    configured = os.environ.get("FACEPAY_ANTISPOOF_MODEL")
    path = (
        Path(configured)
        if configured
        else Path(__file__).resolve().parents[3] / "shared" / "models" / "antispoof" / MODEL_NAME
    )
    return path if path.is_file() else None


def _config(tmp_path: Path, identification: str) -> Path:
    text = cabinet_toml(tmp_path / "state").replace(
        "[identification]\n", "[identification]\n" + identification
    )
    path = tmp_path / "cabinet.toml"
    path.write_text(text)
    return path


def _frame() -> np.ndarray:
    photo = cv2.imread(str(default_pack_dir() / "yaoming.jpg"), cv2.IMREAD_COLOR)
    assert photo is not None
    scale = 240 / photo.shape[0]
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    frame = np.full((480, 640, 3), 90, dtype=np.uint8)
    h, w = small.shape[:2]
    frame[(480 - h) // 2 : (480 - h) // 2 + h, (640 - w) // 2 : (640 - w) // 2 + w] = small
    return frame


def _evidence(config_path: Path) -> FaceEvidence:
    identifier = build_identifier(load_config(config_path))
    frame = _frame()
    results = [identifier.observe(frame, None) for _ in range(3)]  # no depth camera
    evidence = results[-1]
    assert isinstance(evidence, FaceEvidence)
    return evidence


@pytest.mark.skipif(_shared_model() is None, reason="the shared MiniFASNet test model is absent")
def test_a_configured_antispoof_model_judges_liveness(tmp_path: Path) -> None:
    model = _shared_model()
    config = _config(tmp_path, f'antispoof_model = "{model}"\npassive_alone_suffices = true\n')
    assert _evidence(config).liveness.method == "passive"


def test_without_a_configured_model_none_is_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _shared_model()
    if model is not None:  # a model in the environment must not be picked up either
        monkeypatch.setenv("FACEPAY_ANTISPOOF_MODEL", str(model))
    evidence = _evidence(_config(tmp_path, ""))
    assert evidence.liveness.method == "none"
    assert "no_liveness_sensor" in evidence.liveness.reasons


def test_a_configured_model_that_is_missing_is_an_error(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, 'antispoof_model = "models/missing.onnx"\n'))
    with pytest.raises(LivenessModelError, match=r"missing\.onnx"):
        build_identifier(config)

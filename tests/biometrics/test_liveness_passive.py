from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from shared_models import antispoof_model

from biometrics.attacks.presentation import printed_photo, screen_replay
from biometrics.engine import FaceEngine
from biometrics.errors import LivenessModelError
from biometrics.liveness.passive import (
    PASSIVE_SPOOF,
    PassiveModel,
    check_passive,
    configured_model_path,
    crop_for_model,
)

if TYPE_CHECKING:
    from tests.biometrics.conftest import PhotoFaces


@pytest.fixture(scope="module")
def model() -> PassiveModel:
    path = antispoof_model()
    if path is None:
        pytest.skip("the passive anti-spoofing model is not available (FACEPAY_ANTISPOOF_MODEL)")
    return PassiveModel.load(path)


def test_real_faces_are_live(model: PassiveModel, t1_faces: PhotoFaces) -> None:
    for face in t1_faces.faces:
        result = check_passive(model, t1_faces.image, face)
        assert result.passed is True, result.measurements
        assert result.reasons == ()
        assert result.score >= 0.5


def test_batched_probabilities_match_single_runs(model: PassiveModel, t1_faces: PhotoFaces) -> None:
    batched = model.live_probability(t1_faces.image, t1_faces.faces)
    single = [model.live_probability(t1_faces.image, [f])[0] for f in t1_faces.faces]
    np.testing.assert_allclose(batched, single, atol=1e-4)


@pytest.mark.parametrize("attack", [printed_photo, screen_replay])
def test_recaptured_faces_are_mostly_spoofs(
    model: PassiveModel, engine: FaceEngine, t1_faces: PhotoFaces, attack: object
) -> None:
    rejected = 0
    total = 0
    for seed in range(3):
        image = attack(t1_faces.image, np.random.default_rng(seed))  # type: ignore[operator]
        for face in engine.detect(image):
            result = check_passive(model, image, face)
            total += 1
            if result.passed is False:
                assert result.reasons == (PASSIVE_SPOOF,)
                assert result.score < 0.5
                rejected += 1
    # A learned model on crude synthetic attacks: most, not all, are caught.
    assert total >= 15
    assert rejected / total >= 0.6


def test_crop_is_square_with_reflected_border(t1_faces: PhotoFaces) -> None:
    face = t1_faces.faces[0]  # near the left edge: the 1.5x square reaches outside
    crop = crop_for_model(t1_faces.image, face, 128)
    assert crop.shape == (128, 128, 3)
    assert crop.min(axis=(0, 1)).max() > 0  # reflect-101, not black padding


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LivenessModelError, match="does not exist"):
        PassiveModel.load(tmp_path / "absent.onnx")


def test_file_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not an onnx model")
    with pytest.raises(LivenessModelError, match="cannot load"):
        PassiveModel.load(bogus)


def test_env_variable_selects_the_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FACEPAY_ANTISPOOF_MODEL", str(tmp_path / "m.onnx"))
    assert configured_model_path() == tmp_path / "m.onnx"


def test_no_model_is_looked_for_beside_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unconfigured, there is no model, even where the shared test model lies."""
    monkeypatch.delenv("FACEPAY_ANTISPOOF_MODEL", raising=False)
    assert configured_model_path() is None
    with pytest.raises(LivenessModelError, match="no passive liveness model configured"):
        PassiveModel.load()

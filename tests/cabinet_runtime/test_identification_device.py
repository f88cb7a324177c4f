"""On-device identification with the real buffalo_s models; face images never leave."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from test_session_machine import make_rig

from biometrics.attacks.depth_maps import genuine_depth, sheet_depth
from biometrics.engine import FaceEngine
from biometrics.model_pack import default_pack_dir
from cabinet_runtime import protocol as p
from cabinet_runtime.identification import FaceEvidence, FrontIdentifier, QrEvidence, encode_qr
from cabinet_runtime.outbox import Outbox, OutboxEntry

Image = npt.NDArray[np.uint8]


def _framed(image: Image) -> Image:
    """A photo as the front camera would frame it: a person in a 640x480 view."""
    scale = 240 / image.shape[0]
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    frame = np.full((480, 640, 3), 90, dtype=np.uint8)
    h, w = resized.shape[:2]
    top, left = (480 - h) // 2, (640 - w) // 2
    frame[top : top + h, left : left + w] = resized
    return frame


def _read(path: Path) -> Image:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image, dtype=np.uint8)


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    return FaceEngine.load(threads=1).prepare()


@pytest.fixture(scope="session")
def yao() -> Image:
    return _framed(_read(default_pack_dir() / "yaoming.jpg"))


@pytest.fixture(scope="session")
def other(engine: FaceEngine) -> Image:
    """The right-most person of insightface's t1.jpg, cropped and framed."""
    import insightface

    group = _read(Path(insightface.__file__).parent / "data" / "images" / "t1.jpg")
    face = max(engine.detect(group), key=lambda f: f.bbox[0])
    x1, y1, x2, y2 = face.bbox
    w, h = x2 - x1, y2 - y1
    crop = group[int(y1 - 0.6 * h) : int(y2 + 0.4 * h), int(x1 - 0.6 * w) : int(x2 + 0.6 * w)]
    return _framed(np.ascontiguousarray(crop))


def _depth_for(
    engine: FaceEngine, image: Image, kind: str, seed: int = 0
) -> npt.NDArray[np.float32]:
    face = engine.largest_face(image)
    assert face is not None
    rng = np.random.default_rng(seed)
    size = image.shape[:2]
    if kind == "face":
        return genuine_depth(size, face.kps, rng, distance_mm=500)
    return sheet_depth(size, face.kps, rng, "flat", distance_mm=500)


def _feed(identifier: FrontIdentifier, frames: list[tuple[Image, object]]) -> list[object]:
    return [identifier.observe(frame, depth) for frame, depth in frames]  # type: ignore[arg-type]


def test_three_good_frames_of_a_live_face_give_an_embedding_that_passes_liveness(
    engine: FaceEngine, yao: Image
) -> None:
    identifier = FrontIdentifier(engine, frames_required=3)
    depth = _depth_for(engine, yao, "face")
    results = _feed(identifier, [(yao, depth)] * 3)
    assert results[:2] == [None, None]
    evidence = results[2]
    assert isinstance(evidence, FaceEvidence)
    vector = np.asarray(p.unpack_embedding(evidence.embedding), dtype=np.float32)
    assert vector.shape == (512,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3
    face = engine.largest_face(yao)
    assert face is not None
    direct = engine.embed(yao, [face])[0]
    assert float(vector @ direct) > 0.99  # the same person's embedding
    assert evidence.quality.passed
    assert evidence.liveness.passed
    assert evidence.liveness.method == "depth"
    assert evidence.liveness.frames == 3


def test_a_photo_held_up_fails_liveness_and_no_depth_camera_never_passes(
    engine: FaceEngine, yao: Image
) -> None:
    identifier = FrontIdentifier(engine, frames_required=2)
    sheet = _depth_for(engine, yao, "sheet")
    spoof = _feed(identifier, [(yao, sheet)] * 2)[-1]
    assert isinstance(spoof, FaceEvidence)
    assert not spoof.liveness.passed
    blind = _feed(identifier, [(yao, None)] * 2)[-1]
    assert isinstance(blind, FaceEvidence)
    assert not blind.liveness.passed
    assert blind.liveness.method == "none"  # no depth camera, no passive model: no evidence
    assert "no_liveness_sensor" in blind.liveness.reasons
    prompted = FrontIdentifier(engine, frames_required=2, motion=True)
    still = _feed(prompted, [(yao, None)] * 2)[-1]
    assert isinstance(still, FaceEvidence)
    assert still.liveness.method == "motion"  # no head turn in the frames: undecided
    assert not still.liveness.passed
    single = FrontIdentifier(engine, frames_required=1)
    alone = single.observe(yao)
    assert isinstance(alone, FaceEvidence)
    assert alone.liveness.method == "none"
    assert not alone.liveness.passed


def test_a_different_person_or_a_bad_frame_restarts_the_streak(
    engine: FaceEngine, yao: Image, other: Image
) -> None:
    identifier = FrontIdentifier(engine, frames_required=2)
    blank = np.full_like(yao, 127)
    assert _feed(identifier, [(yao, None), (blank, None), (yao, None)])[-1] is None
    assert _feed(identifier, [(other, None)])[-1] is None  # streak restarted by a new face
    assert isinstance(identifier.observe(other), FaceEvidence)
    assert identifier.observe(None) is None  # camera lost


def test_qr_tokens_are_read_and_foreign_codes_ignored(engine: FaceEngine) -> None:
    identifier = FrontIdentifier(engine)
    assert identifier.observe(encode_qr("FPQ1.session-token-abc")) == QrEvidence(
        "FPQ1.session-token-abc"
    )
    assert identifier.observe(encode_qr("https://example.com/promo")) is None


def test_no_face_image_bytes_are_in_any_outgoing_message(
    engine: FaceEngine, yao: Image, tmp_path: Path
) -> None:
    identifier = FrontIdentifier(engine, frames_required=2)
    depth = _depth_for(engine, yao, "face")
    evidence = _feed(identifier, [(yao, depth)] * 2)[-1]
    assert isinstance(evidence, FaceEvidence)
    rig = make_rig(tmp_path)
    machine = rig.machine()
    machine.begin_identify(
        embedding=evidence.embedding, quality=evidence.quality, liveness=evidence.liveness
    )
    payloads = [e.payload for e in machine_outbox(tmp_path)]
    assert payloads
    ok, png = cv2.imencode(".png", yao)
    ok2, jpg = cv2.imencode(".jpg", yao)
    assert ok
    assert ok2
    raw = yao.tobytes()
    face = engine.largest_face(yao)
    assert face is not None
    crop = engine.align(yao, face).tobytes()
    for payload in payloads:
        assert len(payload) < 4096  # an embedding and two small reports, no picture
        decoded = b"".join(
            base64.b64decode(v) for v in _strings(payload) if len(v) > 100 and _is_b64(v)
        )
        for blob in (payload, decoded):
            for magic in (b"\x89PNG", b"\xff\xd8\xff"):
                assert magic not in blob
            for source in (raw, crop, png.tobytes(), jpg.tobytes()):
                for start in range(0, len(source) - 64, max(1, len(source) // 50)):
                    assert source[start : start + 64] not in blob


def machine_outbox(tmp_path: Path) -> list[OutboxEntry]:
    return Outbox(tmp_path / "outbox.db").due(sent_before=float("inf"))


def _strings(payload: bytes) -> list[str]:
    import msgspec

    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(msgspec.json.decode(payload))
    return found


def _is_b64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return True


ANTISPOOF = Path(__file__).resolve().parents[3] / "shared" / "models" / "antispoof"


@pytest.mark.skipif(
    not (ANTISPOOF / "minifasnet_v2se_128_fp32.onnx").is_file(),
    reason="the shared MiniFASNet test model is not present",
)
def test_a_configured_passive_model_joins_the_liveness_report(
    engine: FaceEngine, yao: Image
) -> None:
    from biometrics.liveness.passive import PassiveModel
    from biometrics.liveness.report import LivenessConfig

    model = PassiveModel.load(ANTISPOOF / "minifasnet_v2se_128_fp32.onnx")
    identifier = FrontIdentifier(
        engine,
        frames_required=2,
        passive_model=model,
        liveness=LivenessConfig(passive_alone_suffices=True),
    )
    evidence = _feed(identifier, [(yao, None)] * 2)[-1]
    assert isinstance(evidence, FaceEvidence)
    assert evidence.liveness.method == "passive"
    probability = float(model.live_probability(yao, [engine.largest_face(yao)])[0])  # type: ignore[list-item]
    assert evidence.liveness.passed == (probability >= 0.5)

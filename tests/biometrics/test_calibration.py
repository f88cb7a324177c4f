from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from biometrics.calibration import (
    CalibrationError,
    CalibrationTable,
    add_calibrate_command,
    build_table,
    default_table,
    load_table,
    save_table,
    score_distributions,
    table_path,
)
from biometrics.calibration_build import build_default_table
from biometrics.camera_augment import camera_frame
from biometrics.engine import FaceEngine
from biometrics.model_pack import inspect_pack

if TYPE_CHECKING:
    from tests.biometrics.conftest import PhotoFaces


def _scores(seed: int = 1) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    genuine = np.clip(rng.normal(0.75, 0.1, 3000), -1, 1).astype(np.float32)
    impostor = rng.normal(0.03, 0.09, 40_000).astype(np.float32)
    return genuine, impostor


@pytest.fixture(scope="module")
def table() -> CalibrationTable:
    genuine, impostor = _scores()
    return build_table(genuine, impostor, "pack-x", identities=50, provenance={"source": "test"})


def test_rates_are_monotone_and_fmr_is_never_below_the_data(table: CalibrationTable) -> None:
    fmr = np.asarray(table.fmr)
    fnmr = np.asarray(table.fnmr)
    assert np.all(np.diff(fmr) <= 1e-12)
    assert np.all(np.diff(fnmr) >= -1e-12)
    assert np.all(fmr >= np.asarray(table.fmr_empirical))
    assert fmr[0] > 0.99  # nearly every impostor scores above -0.2
    assert fnmr[-1] > 0.99  # nearly every genuine pair scores below 1.0


def test_rates_match_the_distributions(table: CalibrationTable) -> None:
    genuine, impostor = _scores()
    assert table.fmr_at(0.2) == pytest.approx(float(np.mean(impostor >= 0.2)), rel=0.1)
    assert table.fnmr_at(0.7) == pytest.approx(float(np.mean(genuine < 0.7)), abs=0.01)


def test_default_threshold_reaches_the_target_above_every_impostor(
    table: CalibrationTable,
) -> None:
    t = table.default_threshold
    assert table.fmr_at(t) <= table.target_fmr
    _, impostor = _scores()
    assert t > impostor.max()
    assert table.threshold_for_fmr(table.target_fmr) <= t
    # The tail model extrapolates beyond the measurable range, conservatively.
    assert 0 < table.fmr_at(t) < 1e-4


def test_json_round_trip(tmp_path: Path, table: CalibrationTable) -> None:
    path = tmp_path / "t.json"
    save_table(table, path)
    assert load_table(path) == table


@pytest.mark.parametrize(
    "text",
    ["not json", "{}", '{"format": 99}', '{"format": 1, "pack_id": "x"}'],
    ids=["garbage", "empty", "future-format", "incomplete"],
)
def test_malformed_tables_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(CalibrationError):
        load_table(path)


def test_missing_table_tells_how_to_calibrate() -> None:
    with pytest.raises(CalibrationError, match="calibrate"):
        default_table("w600k_unknown-0000000000000000")


def test_too_little_data_is_refused() -> None:
    with pytest.raises(CalibrationError, match="too little data"):
        build_table(np.ones(2, np.float32), np.zeros(50, np.float32), "p", identities=2)


def test_score_distributions_split_pairs_by_label() -> None:
    e = np.eye(4, 8, dtype=np.float32)
    e[1] = e[0]
    genuine, impostor = score_distributions(["a", "a", "b", "c"], e)
    assert genuine.tolist() == [1.0]
    assert sorted(impostor.tolist()) == [0.0] * 5


def test_shipped_default_table_describes_how_it_was_made() -> None:
    pack_id = inspect_pack().pack_id
    assert table_path(pack_id).is_file()
    shipped = default_table(pack_id)
    assert shipped.pack_id == pack_id
    assert shipped.identities >= 20
    prov = shipped.provenance
    assert prov["regenerate"] == "python -m biometrics.calibration_build"
    assert isinstance(prov["seed"], int)
    assert {"players.jpg", "t1.jpg", "gdp.jpg"} <= set(prov["photos"])
    assert "jpeg_quality" in prov["augmentations"]
    # Real embeddings: impostors near zero, genuine pairs far above them.
    assert abs(shipped.impostor.mean) < 0.15
    assert shipped.genuine.mean - shipped.impostor.mean > 0.5


def test_default_table_build_is_reproducible(engine: FaceEngine) -> None:
    a = build_default_table(engine, per_face=2, seed=5)
    b = build_default_table(engine, per_face=2, seed=5)
    assert a.provenance["identities"] == b.provenance["identities"]
    assert a.impostor.mean == pytest.approx(b.impostor.mean, abs=1e-4)
    assert a.genuine.mean == pytest.approx(b.genuine.mean, abs=1e-4)
    assert a.default_threshold == pytest.approx(b.default_threshold, abs=0.006)


def _write_person(folder: Path, photo: PhotoFaces, index: int, count: int, seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for k in range(count):
        frame = camera_frame(photo.image, photo.faces[index].bbox, rng)
        # A crop around the face only, so the largest face is this person.
        cx, cy = (int(v) for v in frame.face_centre)
        half = int(frame.face_width)
        crop = frame.image[max(cy - half, 0) : cy + half, max(cx - half, 0) : cx + half]
        cv2.imwrite(str(folder / f"{k}.jpg"), crop)


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="biometrics")
    add_calibrate_command(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_calibrate_command_writes_a_table_and_skips_bad_files(
    tmp_path: Path, t1_faces: PhotoFaces, capsys: pytest.CaptureFixture[str]
) -> None:
    people = tmp_path / "people"
    for i in range(4):
        _write_person(people / f"person{i}", t1_faces, i, 4, seed=i)
    (people / "person0" / "notes.txt").write_text("not an image")
    (people / "person1" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    out = tmp_path / "table.json"
    assert _run(["calibrate", str(people), "--out", str(out)]) == 0
    table = load_table(out)
    assert table.identities == 4
    assert table.genuine.count == 4 * 6
    assert table.impostor.count == 16 * 15 // 2 - 24
    assert table.provenance["skipped_images"] == 1
    captured = capsys.readouterr()
    assert "broken.jpg" in captured.err
    assert "threshold" in captured.out


def test_calibrate_command_refuses_a_folder_with_one_person(
    tmp_path: Path, t1_faces: PhotoFaces, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_person(tmp_path / "only" / "person0", t1_faces, 0, 3, seed=1)
    out = tmp_path / "table.json"
    assert _run(["calibrate", str(tmp_path / "only"), "--out", str(out)]) == 2
    assert "at least two people" in capsys.readouterr().err
    assert not out.exists()
    assert _run(["calibrate", str(tmp_path / "missing"), "--out", str(out)]) == 2

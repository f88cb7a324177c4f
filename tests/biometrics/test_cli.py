from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from biometrics.cli import main
from biometrics.engine import FaceEngine
from biometrics.model_pack import default_pack_dir
from biometrics.policy import default_threshold

PLAYERS = default_pack_dir() / "players.jpg"
YAOMING = default_pack_dir() / "yaoming.jpg"
GDP = default_pack_dir() / "gdp.jpg"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_detect_json_lists_every_face(
    capsys: pytest.CaptureFixture[str], engine: FaceEngine
) -> None:
    code, out, _ = _run(capsys, "detect", str(PLAYERS), "--json")
    assert code == 0
    faces = json.loads(out)["faces"]
    assert len(faces) == 22
    for face in faces:
        assert set(face) == {"bbox", "score", "landmarks", "quality"}
        x1, y1, x2, y2 = face["bbox"]
        assert x2 > x1 and y2 > y1
        assert 0.0 < face["score"] <= 1.0
        assert len(face["landmarks"]) == 5
        assert all(len(p) == 2 for p in face["landmarks"])
        assert isinstance(face["quality"]["ok"], bool)
        # a crowd: every face has a neighbour of similar size
        assert "multiple_faces" in face["quality"]["reasons"]


def test_detect_single_good_face(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "detect", str(YAOMING), "--json")
    assert code == 0
    (face,) = json.loads(out)["faces"]
    assert face["quality"] == {"ok": True, "reasons": []}


def test_detect_image_without_face_is_empty_not_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    code, out, _ = _run(capsys, "detect", str(blank), "--json")
    assert code == 0
    assert json.loads(out) == {"faces": []}


def test_compare_same_person(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    image = cv2.imread(str(YAOMING))
    other = cv2.convertScaleAbs(cv2.resize(image, None, fx=0.8, fy=0.8), alpha=1.15, beta=-10)
    path = tmp_path / "yaoming_again.jpg"
    cv2.imwrite(str(path), other)
    code, out, _ = _run(capsys, "compare", str(YAOMING), str(path), "--json")
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"score", "threshold", "match"}
    assert result["threshold"] == pytest.approx(
        default_threshold(FaceEngine.load().pack_id), abs=1e-4
    )
    assert result["match"] is True
    assert result["score"] > result["threshold"]


def test_compare_different_people(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "compare", str(YAOMING), str(GDP), "--json")
    assert code == 0
    result = json.loads(out)
    assert result["match"] is False
    assert result["score"] < result["threshold"]


def test_compare_threshold_override(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "compare", str(YAOMING), str(GDP), "--json", "--threshold", "-1")
    assert code == 0
    assert json.loads(out)["match"] is True


def test_compare_without_a_face_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    code, out, err = _run(capsys, "compare", str(YAOMING), str(blank), "--json")
    assert code == 2
    assert out == ""
    assert "no face" in err
    assert str(blank) in err


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "text": tmp_path / "notes.jpg",
        "empty": tmp_path / "empty.png",
        "tiny": tmp_path / "tiny.png",
        "missing": tmp_path / "missing.jpg",
    }
    files["text"].write_text("this is not an image")
    files["empty"].write_bytes(b"")
    cv2.imwrite(str(files["tiny"]), np.zeros((1, 1, 3), np.uint8))
    return files


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("text", "not a JPEG, PNG, BMP or WebP image"),
        ("empty", "empty"),
        ("tiny", "at least 32 px"),
        ("missing", "cannot read"),
    ],
)
@pytest.mark.parametrize("command", ["detect", "compare"])
def test_bad_input_exits_2_with_a_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str, message: str, command: str
) -> None:
    bad = str(_bad_files(tmp_path)[kind])
    argv = ["detect", bad] if command == "detect" else ["compare", str(YAOMING), bad]
    code, out, err = _run(capsys, *argv, "--json")
    assert code == 2
    assert out == ""
    assert message in err


def test_huge_image_in_a_real_process(
    tmp_path: Path, huge_png: Callable[[int, int], bytes]
) -> None:
    """20000x20000: refused from the header, the process exits cleanly and fast."""
    path = tmp_path / "huge.png"
    path.write_bytes(huge_png(20000, 20000))
    # cap the address space: decoding it would need 1.2 GB
    script = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
        "from biometrics.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, "detect", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 2, proc.stderr
    assert "pixel limit" in proc.stderr
    assert proc.stdout == ""


def test_pack_option_and_missing_pack(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = _run(capsys, "--pack", str(default_pack_dir()), "pack", "--json")
    assert code == 0
    assert json.loads(out)["pack_id"] == FaceEngine.load().pack_id
    code, out, err = _run(capsys, "--pack", str(tmp_path / "nowhere"), "detect", str(YAOMING))
    assert code == 2
    assert "does not exist" in err

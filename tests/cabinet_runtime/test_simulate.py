"""``cabinet-runtime simulate``: JSON shape and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from biometrics.model_pack import default_pack_dir
from cabinet_runtime.simulate import simulate_command

SCENARIOS = Path(__file__).parent / "scenarios"
IMAGES = default_pack_dir()  # real photos shipped with the face model pack


def test_json_output_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [SCENARIOS / "putback-one-of-two.json", SCENARIOS / "camera-drop-equal-weight.json"]
    assert simulate_command(paths, as_json=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"results", "summary"}
    first, second = out["results"]
    assert set(first) == {"name", "expected", "recognized", "exact", "confidence", "review"}
    assert first["name"] == "putback-one-of-two"
    assert first["expected"] == {"CHIPS-90": 1} == first["recognized"]
    assert first["exact"] is True and first["review"] is False
    assert second["review"] is True, "weight alone cannot tell cola from lemonade"
    summary = out["summary"]
    assert summary["scenarios"] == 2
    assert summary["exact"] == int(first["exact"]) + int(second["exact"])
    assert summary["exact_rate"] == summary["exact"] / 2
    assert summary["review_rate"] == 0.5


def test_differing_baskets_still_exit_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # with the camera gone, cola and lemonade weigh the same: whichever of the
    # two the recognizer names, one of these sessions gets it wrong
    data = json.loads((SCENARIOS / "camera-drop-equal-weight.json").read_text())
    paths = []
    for lane in ("s1-a", "s1-b"):
        data["name"] = f"tie-{lane}"
        data["events"][0]["lane"] = lane
        paths.append(tmp_path / f"tie-{lane}.json")
        paths[-1].write_text(json.dumps(data))
    assert simulate_command(paths, as_json=False) == 0
    text = capsys.readouterr().out
    assert "DIFF" in text and "expected:" in text
    assert "1/2 exact" in text and "review rate 100.0%" in text


def test_unreadable_scenario_exits_2_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x"}')
    code = simulate_command([SCENARIOS / "single-s1-a.json", bad], as_json=True)
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "bad.json" in captured.err and "seed" in captured.err
    assert simulate_command([tmp_path / "missing.json"], as_json=False) == 2
    assert "cannot read" in capsys.readouterr().err


def test_product_image_is_resolved_next_to_the_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = cv2.imread(str(IMAGES / "yaoming.jpg"))
    cv2.imwrite(str(tmp_path / "lemonade.png"), photo[40:200, 30:220])
    data = json.loads((SCENARIOS / "equal-weight-lemonade.json").read_text())
    for product in data["products"]:
        if product["sku"] == "LEMON-330":
            product["image"] = "lemonade.png"
    path = tmp_path / "photo.json"
    path.write_text(json.dumps(data))
    assert simulate_command([path], as_json=True) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert result["recognized"] == {"LEMON-330": 1} and not result["review"]

"""`facepay customers ...` end to end on a data directory, in-process."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_customers_support import add_site, face_photos, latest_code

from facepay.cli import main
from facepay.db.engine import make_engine, make_session_factory


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("FACEPAY_DATA_DIR", str(data))
    monkeypatch.setenv("FACEPAY_DATABASE_URL", database_url)
    assert main(["keys", "init"]) == 0
    assert main(["db", "upgrade"]) == 0
    return data


def test_operator_enrolls_a_customer(
    data_dir: Path, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        site_id = add_site(sessions)
        capsys.readouterr()
        assert main(["customers", "create", "--phone", "010-9999-0001", "--site", site_id]) == 0
        out = capsys.readouterr().out
        customer_id = re.search(r"customer (\S+)", out).group(1)  # type: ignore[union-attr]
        verification = re.search(r"verification (\S+)", out).group(1)  # type: ignore[union-attr]
        code = latest_code(sessions, "+821099990001")
    finally:
        engine.dispose()
    assert main(["customers", "verify-phone", "--verification", verification, "--code", "x"]) == 2
    assert "code is wrong" in capsys.readouterr().err
    assert main(["customers", "verify-phone", "--verification", verification, "--code", code]) == 0
    images = []
    for i, photo in enumerate(face_photos(12)):
        images.append(tmp_path / f"face{i}.jpg")
        images[-1].write_bytes(photo)
    # No consent yet: refused with the reason, nothing enrolled.
    assert main(["customers", "enroll", customer_id, *map(str, images)]) == 2
    assert "consent" in capsys.readouterr().err
    assert main(["customers", "consent", customer_id, "--decision", "granted", "--show"]) == 0
    assert "보유·이용 기간" in capsys.readouterr().out
    assert main(["customers", "enroll", customer_id, str(tmp_path / "missing.jpg")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["customers", "enroll", customer_id, *map(str, images)]) == 0
    assert "face enrolled" in capsys.readouterr().out
    assert main(["customers", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["id"] == customer_id and listed["face_enrolled"] and listed["sites"] == [site_id]
    assert main(["customers", "delete", customer_id, "--by", "ops"]) == 0
    assert '"data_key_shredded":true' in capsys.readouterr().out
    assert main(["customers", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_bad_phone_is_a_clear_error(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["customers", "create", "--phone", "hello"]) == 2
    assert "international form" in capsys.readouterr().err
    assert main(["customers", "seed-notices"]) == 0
    assert "4 notices" in capsys.readouterr().out

"""`facepay demo` as a newcomer runs it: one process, nothing set up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_every_visit_as_scripted(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEPAY_")}
    result = subprocess.run(
        [sys.executable, "-m", "facepay", "demo", "--json", "--data-dir", str(tmp_path / "demo")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["ledger_balanced"] is True
    visits = report["visits"]
    assert len(visits) == 7
    for visit in visits:
        assert {
            "customer",
            "auth_method",
            "decision",
            "basket",
            "amount",
            "currency",
            "receipt_id",
            "latency_ms",
        } <= set(visit)
        assert set(visit["latency_ms"]) == {"identify", "unlock", "settle"}
        assert visit["as_expected"], visit["problems"]
    assert [v["decision"] for v in visits] == [
        "approve",
        "approve",
        "approve",
        "deny",
        "approve",
        "deny",
        "approve",
    ]
    assert {v["auth_method"] for v in visits} == {"face", "qr"}
    assert any(v["step_up"] for v in visits)
    assert any(v["debt"] > 0 for v in visits)
    assert not (tmp_path / "var").exists(), "the demo keeps its data where it was told to"

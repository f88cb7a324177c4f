"""The `facepay` command as an operator runs it: a real process, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from server_process import ServerProcess

from facepay_demo.server import free_port


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FACEPAY_")}
    return {**clean, "FACEPAY_DATA_DIR": str(tmp_path / "var"), **extra}


def _facepay(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facepay", *args],
        env=_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = _facepay(tmp_path, "--help")
    assert result.returncode == 0
    for command in (
        "serve",
        "demo",
        "doctor",
        "db",
        "keys",
        "audit",
        "ledger",
        "webhooks",
        "cabinets",
        "customers",
    ):
        assert command in result.stdout
    keys = _facepay(tmp_path, "keys", "--help")
    assert "init" in keys.stdout and "rotate-kek" in keys.stdout
    db = _facepay(tmp_path, "db", "--help")
    assert "upgrade" in db.stdout and "current" in db.stdout


def test_doctor_json_reports_each_part(tmp_path: Path) -> None:
    broken = _facepay(tmp_path, "doctor", "--json")
    assert broken.returncode == 1
    report = json.loads(broken.stdout)
    assert report["ok"] is False
    assert report["checks"]["keys"]["ok"] is False
    assert report["checks"]["model_pack"]["ok"] is True
    assert report["checks"]["model_pack"]["licence_status"] == "default_non_commercial"
    assert _facepay(tmp_path, "keys", "init").returncode == 0
    assert _facepay(tmp_path, "db", "current").returncode == 1
    assert _facepay(tmp_path, "db", "upgrade").returncode == 0
    assert _facepay(tmp_path, "db", "current").returncode == 0
    ledger = _facepay(tmp_path, "ledger", "verify")
    assert ledger.returncode == 0, ledger.stderr
    assert "ledger OK" in ledger.stdout
    healthy = _facepay(tmp_path, "doctor", "--json")
    assert healthy.returncode == 0, healthy.stdout
    report = json.loads(healthy.stdout)
    assert set(report["checks"]) == {
        "database",
        "migrations",
        "keys",
        "model_pack",
        "processor:sandbox",
    }
    assert all(check["ok"] for check in report["checks"].values())
    assert report["settings"]["database_url"].startswith("sqlite")


def test_doctor_masks_secrets(tmp_path: Path) -> None:
    result = _facepay(
        tmp_path,
        "doctor",
        "--json",
        FACEPAY_DATABASE_URL="postgresql://app:s3cret@127.0.0.1:1/none",
    )
    assert result.returncode == 1
    assert "s3cret" not in result.stdout
    assert json.loads(result.stdout)["checks"]["database"]["ok"] is False


def test_production_refuses_a_non_commercial_pack(tmp_path: Path) -> None:
    _facepay(tmp_path, "keys", "init")
    _facepay(tmp_path, "db", "upgrade")
    refused = _facepay(tmp_path, "doctor", "--json", FACEPAY_MODE="production")
    assert refused.returncode == 1
    pack = json.loads(refused.stdout)["checks"]["model_pack"]
    assert pack["ok"] is False and "non-commercial" in pack["detail"]
    declared = _facepay(
        tmp_path,
        "doctor",
        "--json",
        FACEPAY_MODE="production",
        FACEPAY_MODEL_LICENCE="InsightFace commercial licence #123",
    )
    assert declared.returncode == 0, declared.stdout


def test_missing_model_pack_is_reported(tmp_path: Path) -> None:
    empty = tmp_path / "pack"
    empty.mkdir()
    result = _facepay(tmp_path, "doctor", "--json", FACEPAY_MODEL_PACK_DIR=str(empty))
    pack = json.loads(result.stdout)["checks"]["model_pack"]
    assert pack["ok"] is False and "no detector model" in pack["detail"]


@pytest.mark.slow
def test_serve_sets_up_embedded_defaults_and_answers(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(
        [sys.executable, "-m", "facepay", "serve", "--port", str(port)],
        _env(tmp_path),
        f"http://127.0.0.1:{port}/readyz",
    )
    try:
        server.start()
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/schema/openapi.json").status_code == 200
    finally:
        server.stop()
    assert (tmp_path / "var" / "keys" / "kek.json").exists()
    assert (tmp_path / "var" / "facepay.db").exists()


@pytest.mark.slow
def test_serve_port_alone_moves_the_public_url_of_card_links_and_provisioning(
    tmp_path: Path,
) -> None:
    """`facepay serve --port P` with nothing else set: the addresses the server hands out
    (the card network's page, the gateway a cabinet pins) are on P, and the in-process
    card network is reachable there, so a card link starts at all."""
    import sqlite3

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = ServerProcess(
        [sys.executable, "-m", "facepay", "serve", "--port", str(port)],
        _env(tmp_path),
        f"{base}/readyz",
    )
    try:
        server.start()
        site = _facepay(tmp_path, "cabinets", "create-site", "Mangwon").stdout.strip()
        made = _facepay(
            tmp_path, "cabinets", "create", "--site", site, "--name", "fridge", "--hold", "10000"
        )
        code = made.stdout.split("provisioning code ")[1].split()[0]
        device = (
            Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        provisioned = httpx.post(
            f"{base}/v1/cabinets/provision",
            json={"code": code, "public_key": __import__("base64").b64encode(device).decode()},
        )
        assert provisioned.status_code == 200, provisioned.text
        assert provisioned.json()["gateway_url"] == f"ws://127.0.0.1:{port}/v1/cabinets/ws"

        with httpx.Client(base_url=base, timeout=30) as client:
            created = client.post("/v1/customers", json={"phone": "010-4321-8765"}).json()
            with sqlite3.connect(tmp_path / "var" / "facepay.db") as db:
                (body,) = db.execute(
                    "SELECT body FROM notification_outbox WHERE kind = 'phone_code'"
                ).fetchone()
            digits = body.split("code is ")[1][:6]
            verified = client.post(
                f"/v1/phone-verifications/{created['verification_id']}/verify",
                json={"code": digits},
            )
            assert verified.status_code == 200, verified.text
            client.headers["Authorization"] = f"Bearer {verified.json()['session_token']}"
            link = client.post("/v1/me/cards", json={}, headers={"Idempotency-Key": "card-1"})
        assert link.status_code == 201, link.text  # the network was reached on this port
        assert link.json()["redirect_url"].startswith(f"{base}/sandbox-network/")
    finally:
        server.stop()

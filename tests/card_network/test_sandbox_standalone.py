"""The sandbox network runs on its own: ``python -m card_network``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
from server_process import ServerProcess

from facepay_demo.server import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_runs_as_its_own_server() -> None:
    port = free_port()
    env = {**os.environ, "SANDBOX_API_KEY": "standalone-key", "PYTHONPATH": str(ROOT)}
    proc = ServerProcess(
        [sys.executable, "-m", "card_network", "--port", str(port)],
        env,
        f"http://127.0.0.1:{port}/health",
    )
    try:
        proc.start(timeout=30)
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
        assert health.json() == {"status": "ok"}
        session = httpx.post(
            f"http://127.0.0.1:{port}/tsp/sessions",
            json={"customer_ref": "c", "return_url": "https://example.test/done"},
            headers={"Authorization": "Bearer standalone-key", "Token-Requestor-Id": "facepay"},
            timeout=5,
        )
        assert session.status_code == 201
        page = httpx.get(session.json()["hosted_url"], timeout=5)
        assert page.status_code == 200 and 'name="pan"' in page.text
    finally:
        proc.stop()

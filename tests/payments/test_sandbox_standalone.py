"""The sandbox network runs on its own: ``python -m payments.sandbox``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def test_runs_as_its_own_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "SANDBOX_API_KEY": "standalone-key", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "payments.sandbox", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "sandbox did not start"
                time.sleep(0.1)
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
        proc.terminate()
        proc.wait(timeout=10)

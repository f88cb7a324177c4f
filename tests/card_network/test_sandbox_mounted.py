"""The server mounts the sandbox network in-process; its hosted page must still resolve."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar, asgi
from litestar.testing import TestClient

from card_network.app import create_sandbox_app
from card_network.config import SandboxConfig, TokenRequestor


def test_mounted_under_a_prefix() -> None:
    network_app = create_sandbox_app(SandboxConfig(requestors=(TokenRequestor("facepay", "k"),)))

    @asgi("/sandbox", is_mount=True, copy_scope=True)
    async def mounted(scope: Any, receive: Any, send: Any) -> None:
        await network_app(scope, receive, send)

    with TestClient(Litestar([mounted])) as client:
        created = client.post(
            "/sandbox/tsp/sessions",
            json={"customer_ref": "c", "return_url": "https://facepay.test/done"},
            headers={"Authorization": "Bearer k", "Token-Requestor-Id": "facepay"},
        )
        assert created.status_code == 201
        hosted = httpx.URL(created.json()["hosted_url"])
        assert hosted.path.startswith("/sandbox/tsp/enroll/")
        page = client.get(hosted.path)
        assert page.status_code == 200 and 'name="pan"' in page.text
        submitted = client.post(
            hosted.path,
            data={"pan": "4242424242424242", "exp_month": "1", "exp_year": "2035", "cvc": "999"},
            follow_redirects=False,
        )
        assert submitted.status_code == 303
        assert submitted.headers["location"].startswith("https://facepay.test/done?session_id=")

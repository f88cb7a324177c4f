"""The server mounts the sandbox network in-process; its hosted page must still resolve."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
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


def _server_app(tmp_path: Any, processors: Any) -> Litestar:
    from api.app import create_app
    from facepay.db.engine import open_database
    from facepay.db.migrate import upgrade
    from facepay.keys.store import init_keys
    from facepay.settings import Settings

    settings = Settings(data_dir=tmp_path, processors=processors)
    init_keys(settings.keys_dir)
    with open_database(settings.effective_database_url) as db:
        upgrade(db.engine)
    return create_app(settings)


@pytest.mark.parametrize(
    ("sandbox", "status"),
    [
        ({}, 401),  # mounted: the network itself refuses an unauthenticated caller
        ({"network_url": "http://127.0.0.1:9"}, 404),  # a separately running network
        (None, 404),  # the sandbox processor is not enabled
    ],
)
def test_server_mounts_the_network_only_when_it_runs_in_process(
    tmp_path: Any, sandbox: dict[str, str] | None, status: int
) -> None:
    from facepay.processor_settings import ProcessorSettings, SandboxSettings, StripeSettings

    processors = ProcessorSettings(
        sandbox=SandboxSettings(**sandbox) if sandbox is not None else None,
        stripe=StripeSettings(secret_key="sk_test_unused"),
    )
    with TestClient(_server_app(tmp_path, processors)) as client:
        answer = client.get("/sandbox-network/tsp/sessions/none")
    assert answer.status_code == status, answer.text

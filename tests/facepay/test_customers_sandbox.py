"""The sandbox card network over real HTTP, for the card-link tests (helpers + a self-check)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from card_network.app import create_sandbox_app
from card_network.config import SandboxConfig, TokenRequestor
from payments.processors.sandbox import SandboxProcessor

REQUESTOR_ID = "facepay-test-requestor"
API_KEY = "facepay-test-sandbox-key"


@dataclass
class Sandbox:
    url: str

    def processor(self) -> SandboxProcessor:
        return SandboxProcessor(
            base_url=self.url, requestor_id=REQUESTOR_ID, api_key=API_KEY, merchant_id="m-1"
        )


def serve_sandbox() -> Iterator[Sandbox]:
    config = SandboxConfig(requestors=(TokenRequestor(REQUESTOR_ID, API_KEY),))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_sandbox_app(config), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield Sandbox(f"http://127.0.0.1:{sock.getsockname()[1]}")
    server.should_exit = True
    thread.join(5)


def fill_hosted_page(redirect_url: str, pan: str, cvc: str = "123") -> httpx.Response:
    """What the customer does on the network's own page: open it, type the card, submit."""
    page = httpx.get(redirect_url, timeout=10)
    assert page.status_code == 200 and "<form" in page.text
    form = {"pan": pan, "exp_month": "12", "exp_year": "2031", "cvc": cvc}
    return httpx.post(redirect_url, data=form, timeout=10, follow_redirects=False)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    yield from serve_sandbox()


def test_the_hosted_page_redirects_back(sandbox: Sandbox) -> None:
    processor = sandbox.processor()
    try:
        link = processor.begin_link(
            customer_ref="c-1", return_url="https://example.test/back", idempotency_key="k-1"
        )
        assert link.redirect_url
        answer = fill_hosted_page(link.redirect_url, "4242424242424242")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("https://example.test/back?")
    finally:
        processor.close()

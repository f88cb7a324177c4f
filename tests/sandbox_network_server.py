"""The sandbox card network served over real HTTP, for the tests of payments and of
card_network: constants, the server, a notification receiver, card enrollment.

Conftests import the fixtures from here (``from sandbox_network_server import ...``),
so each test folder gets its own session-scoped network.
"""

from __future__ import annotations

import functools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import uvicorn

from card_network.app import create_sandbox_app
from card_network.config import SandboxConfig, TokenRequestor
from card_network.network import SandboxNetwork
from payments.processor import PaymentMethod
from payments.processors.sandbox import SandboxProcessor

REQUESTOR_ID = "facepay-trid-40010000001"
API_KEY = "sandbox-test-api-key"
ADMIN_KEY = "sandbox-test-admin-key"
NOTIFY_SECRET = "sandbox-test-notify-secret"
MERCHANT_ID = "merchant-cabinet-001"
PROCESSOR_TIMEOUT = 0.6


@dataclass
class Receiver:
    """A local HTTP endpoint that records what is POSTed to it."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)


@dataclass
class SandboxServer:
    url: str
    network: SandboxNetwork
    app: object
    receiver: Receiver

    def processor(self, timeout: float = PROCESSOR_TIMEOUT) -> SandboxProcessor:
        return SandboxProcessor(
            base_url=self.url,
            requestor_id=REQUESTOR_ID,
            api_key=API_KEY,
            merchant_id=MERCHANT_ID,
            timeout=timeout,
        )

    def admin(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=5, **kwargs)  # type: ignore[arg-type]


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="session")
def notify_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/network"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()


@pytest.fixture(scope="session")
def sandbox(notify_receiver: Receiver) -> Iterator[SandboxServer]:
    """The sandbox network app served by uvicorn on a free port in a background thread."""
    config = SandboxConfig(
        requestors=(
            TokenRequestor(
                requestor_id=REQUESTOR_ID,
                api_key=API_KEY,
                notify_url=notify_receiver.url,
                notify_secret=NOTIFY_SECRET,
            ),
            TokenRequestor(requestor_id="other-requestor", api_key="other-key"),
        ),
        admin_key=ADMIN_KEY,
        timeout_delay_seconds=PROCESSOR_TIMEOUT * 3,
        notify_backoff_seconds=0.05,
    )
    network = SandboxNetwork(config)
    app = create_sandbox_app(config, network)
    sock = _free_socket()
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "sandbox server did not start"
    yield SandboxServer(url=url, network=network, app=app, receiver=notify_receiver)
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def processor(sandbox: SandboxServer) -> Iterator[SandboxProcessor]:
    proc = sandbox.processor()
    yield proc
    proc.close()


def enroll_card(
    processor: SandboxProcessor,
    pan: str,
    *,
    customer_ref: str = "cust-1",
    exp_month: str = "12",
    exp_year: str = "2031",
    cvc: str = "123",
) -> PaymentMethod:
    """Link a card the way a customer does: the network's hosted page, then the token."""
    session = processor.begin_link(
        customer_ref=customer_ref,
        return_url="https://facepay.test/cards/done",
        idempotency_key=f"link-{customer_ref}-{pan}-{time.monotonic_ns()}",
    )
    assert session.redirect_url is not None
    with httpx.Client(timeout=5) as browser:
        page = browser.get(session.redirect_url)
        assert page.status_code == 200 and "<form" in page.text
        submitted = browser.post(
            session.redirect_url,
            data={"pan": pan, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc},
        )
    assert submitted.status_code == 303, submitted.text
    assert submitted.headers["location"].startswith("https://facepay.test/cards/done?")
    return processor.complete_link(setup_ref=session.setup_ref, idempotency_key="complete")


@pytest.fixture
def enroll(processor: SandboxProcessor) -> Callable[..., PaymentMethod]:
    return functools.partial(enroll_card, processor)


def notifications(receiver: Receiver) -> list[dict[str, object]]:
    return [json.loads(body) for _, body in receiver.received]

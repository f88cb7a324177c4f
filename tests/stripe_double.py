"""A local HTTP *test double* of the Stripe API. It is not Stripe.

It serves the handful of v1 endpoints FacePay's Stripe processor calls, over
real HTTP on 127.0.0.1, so the official `stripe` SDK can be pointed at it with
`base_addresses={"api": double.url}`. It parses Stripe's form encoding
(`metadata[k]=v`, `expand[0]=x`), requires a bearer secret key, enforces the
PaymentIntent states Stripe documents (stripe_double_state.py), answers with
Stripe-shaped error JSON, and implements idempotency keys the way Stripe
describes them: the same key with the same parameters replays the stored
response (with `Idempotent-Replayed: true`); the same key with different
parameters is a 400 `idempotency_error`.

Faults for tests: a card that answers only after a delay (client timeout),
`drop_next_responses(n)` which processes the next n POSTs and then closes the
connection without answering (the outcome is unknown to the client), and
`state.search_lag_seconds`, which hides recent intents from search as Stripe's
eventually consistent search can. State changes are recorded as Stripe events
(`state.events`, `signed_events`) for webhook tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from stripe_double_lookup import list_intents, list_refunds, search_intents
from stripe_double_params import JSON, DoubleError, invalid
from stripe_double_state import StripeState

API_KEY = "sk_test_facepay_double"

_Route = tuple[str, re.Pattern[str], Callable[[StripeState, re.Match[str], JSON], Any]]


def parse_form(body: str) -> JSON:
    """Stripe's bracketed form encoding back into nested dicts and lists."""
    root: JSON = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise invalid(f"Invalid parameter nesting: {key}", key)
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists(node[k]) for k in sorted(node, key=int)]
    return {k: _lists(v) for k, v in node.items()}


def _search(state: StripeState, _: re.Match[str], params: JSON) -> JSON:
    return {
        "object": "search_result",
        "data": search_intents(state, str(params.get("query", ""))),
        "has_more": False,
        "next_page": None,
        "url": "/v1/payment_intents/search",
    }


ROUTES: list[_Route] = [
    ("POST", re.compile(r"/v1/customers"), lambda s, m, p: s.create_customer(p)),
    ("GET", re.compile(r"/v1/customers/(\w+)"), lambda s, m, p: s.customer(m[1])),
    ("POST", re.compile(r"/v1/setup_intents"), lambda s, m, p: s.create_setup_intent(p)),
    ("GET", re.compile(r"/v1/setup_intents/(\w+)"), lambda s, m, p: s.setup_intent(m[1])),
    (
        "POST",
        re.compile(r"/v1/setup_intents/(\w+)/confirm"),
        lambda s, m, p: s.confirm_setup_intent(m[1], p),
    ),
    ("GET", re.compile(r"/v1/payment_methods/(\w+)"), lambda s, m, p: s.payment_method(m[1])),
    ("POST", re.compile(r"/v1/payment_intents"), lambda s, m, p: s.create_intent(p)),
    ("GET", re.compile(r"/v1/payment_intents"), lambda s, m, p: list_intents(s, p)),
    ("GET", re.compile(r"/v1/payment_intents/search"), _search),
    ("GET", re.compile(r"/v1/payment_intents/(\w+)"), lambda s, m, p: s.intent(m[1])),
    (
        "POST",
        re.compile(r"/v1/payment_intents/(\w+)"),
        lambda s, m, p: s.update_intent(m[1], p),
    ),
    (
        "POST",
        re.compile(r"/v1/payment_intents/(\w+)/confirm"),
        lambda s, m, p: s.confirm_intent(m[1], p),
    ),
    (
        "POST",
        re.compile(r"/v1/payment_intents/(\w+)/capture"),
        lambda s, m, p: s.capture_intent(m[1], p),
    ),
    (
        "POST",
        re.compile(r"/v1/payment_intents/(\w+)/cancel"),
        lambda s, m, p: s.cancel_intent(m[1], p),
    ),
    (
        "POST",
        re.compile(r"/v1/payment_intents/(\w+)/increment_authorization"),
        lambda s, m, p: s.increment_authorization(m[1], p),
    ),
    ("POST", re.compile(r"/v1/refunds"), lambda s, m, p: s.create_refund(p)),
    ("GET", re.compile(r"/v1/refunds"), lambda s, m, p: list_refunds(s, p)),
    ("GET", re.compile(r"/v1/refunds/(\w+)"), lambda s, m, p: s._get(s.refunds, "refund", m[1])),
]


class StripeDouble:
    """Owns the state, the idempotency store and the HTTP server thread."""

    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.state = StripeState()
        self.requests: list[tuple[str, str, str | None]] = []
        self._idempotency: dict[str, tuple[str, str, JSON, int, bytes]] = {}
        self._lock = threading.Lock()
        self._drop_next = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "double is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def signed_events(self, secret: str, timestamp: int) -> list[tuple[bytes, str]]:
        """Every event so far as Stripe would POST it: (body, Stripe-Signature header).

        Signed here with hmac directly, as Stripe documents, not with FacePay's code."""
        with self._lock:
            events = list(self.state.events)
        signed = []
        for event in events:
            body = json.dumps(event).encode()
            mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
            signed.append((body, f"t={timestamp},v1={mac.hexdigest()}"))
        return signed

    def drop_next_responses(self, count: int) -> None:
        """Apply the next `count` POSTs but close the connection instead of answering."""
        with self._lock:
            self._drop_next = count

    # -- request handling (called from server threads) --------------------------
    def handle(
        self, method: str, target: str, headers: dict[str, str], body: str
    ) -> tuple[int, bytes, dict[str, str], float] | None:
        """Returns (status, body, extra headers, delay) or None to drop the connection."""
        split = urlsplit(target)
        params = parse_form(body if method == "POST" else split.query)
        key = headers.get("idempotency-key") if method == "POST" else None
        with self._lock:
            self.requests.append((method, split.path, key))
            if headers.get("authorization") != f"Bearer {self.api_key}":
                status, payload = (
                    401,
                    DoubleError(401, "invalid_request_error", "Invalid API Key provided.").body,
                )
                return status, json.dumps(payload).encode(), {}, 0.0
            if key is not None and key in self._idempotency:
                return self._replay(key, method, split.path, params)
            status, payload = self._dispatch(method, split.path, params)
            encoded = json.dumps(payload).encode()
            if key is not None:
                self._idempotency[key] = (method, split.path, params, status, encoded)
            delay = self._delay_for(payload)
            if self._drop_next > 0 and method == "POST":
                self._drop_next -= 1
                return None
        return status, encoded, {"Request-Id": f"req_{time.time_ns()}"}, delay

    def _replay(
        self, key: str, method: str, path: str, params: JSON
    ) -> tuple[int, bytes, dict[str, str], float]:
        stored_method, stored_path, stored_params, status, encoded = self._idempotency[key]
        if (stored_method, stored_path, stored_params) != (method, path, params):
            error = DoubleError(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters "
                "they were first used with.",
            )
            return 400, json.dumps(error.body).encode(), {}, 0.0
        return status, encoded, {"Idempotent-Replayed": "true"}, 0.0

    def _dispatch(self, method: str, path: str, params: JSON) -> tuple[int, JSON]:
        for route_method, pattern, handler in ROUTES:
            match = pattern.fullmatch(path)
            if route_method == method and match is not None:
                try:
                    result = handler(self.state, match, params)
                except DoubleError as error:
                    return error.status, error.body
                return 200, self._expand(result, params)
        return 404, DoubleError(
            404, "invalid_request_error", f"Unrecognized request URL ({method}: {path})."
        ).body

    def _expand(self, result: JSON, params: JSON) -> JSON:
        expand = params.get("expand", [])
        if "data.latest_charge" in expand and "data" in result:
            inner = {"expand": ["latest_charge"]}
            return {**result, "data": [self._expand(item, inner) for item in result["data"]]}
        if "latest_charge" in expand and result.get("latest_charge"):
            return {**result, "latest_charge": self.state.charge(result["latest_charge"])}
        return result

    def _delay_for(self, payload: JSON) -> float:
        pi = payload.get("error", {}).get("payment_intent") or payload
        pm = pi.get("payment_method") if pi.get("object") == "payment_intent" else None
        return self.state.card_for(pm).response_delay if pm in self.state.cards else 0.0

    # -- server lifecycle ------------------------------------------------------------
    def start(self) -> StripeDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = double.handle(self.command, self.path, headers, body)
                if answer is None:
                    self.close_connection = True
                    return
                status, encoded, extra, delay = answer
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(encoded)

            do_GET = do_POST = do_DELETE = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def running_double() -> Iterator[StripeDouble]:
    double = StripeDouble().start()
    try:
        yield double
    finally:
        double.stop()

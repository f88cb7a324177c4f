"""Cryptograms, token domain restrictions and the token lifecycle on the sandbox network."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest
from sandbox_network_server import API_KEY, MERCHANT_ID, NOTIFY_SECRET, REQUESTOR_ID, SandboxServer

from payments.cryptogram import compute_cryptogram, new_cryptogram
from payments.money import Money
from payments.network_protocol import (
    SIGNATURE_HEADER,
    UNATTENDED_CABINET_CHANNEL,
    AuthorizeRequest,
    verify_notification,
)
from payments.processor import DeclineCode, PaymentMethod
from payments.processors.sandbox import SandboxProcessor

Enroll = Callable[..., PaymentMethod]
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Token-Requestor-Id": REQUESTOR_ID}


def request_for(method: PaymentMethod, amount: int = 500, **override: Any) -> AuthorizeRequest:
    assert method.credential
    c = new_cryptogram(
        method.credential,
        token=method.token_ref,
        amount=amount,
        currency="USD",
        merchant_id=MERCHANT_ID,
    )
    fields: dict[str, Any] = {
        "token": method.token_ref,
        "amount": amount,
        "currency": "USD",
        "merchant_id": MERCHANT_ID,
        "channel": UNATTENDED_CABINET_CHANNEL,
        "nonce": c.nonce,
        "timestamp": c.timestamp,
        "cryptogram": c.value,
    }
    fields.update(override)
    return AuthorizeRequest(**fields)


def send(
    sandbox: SandboxServer, req: AuthorizeRequest, headers: dict[str, str] = HEADERS
) -> httpx.Response:
    return httpx.post(
        sandbox.url + "/network/authorizations",
        content=msgspec.json.encode(req),
        headers={
            **headers,
            "Idempotency-Key": uuid.uuid4().hex,
            "Content-Type": "application/json",
        },
        timeout=5,
    )


def decline_of(response: httpx.Response) -> str | None:
    assert response.status_code == 200, response.text
    code: str | None = response.json()["decline_code"]
    return code


def test_valid_cryptogram_approves(sandbox: SandboxServer, enroll: Enroll) -> None:
    assert decline_of(send(sandbox, request_for(enroll("4242424242424242")))) is None


@pytest.mark.parametrize(
    "tamper",
    [
        {"amount": 501},
        {"merchant_id": "someone-else"},
        {"nonce": "other-nonce"},
        {"cryptogram": "A" * 43},
    ],
)
def test_altered_cryptogram_declined(
    sandbox: SandboxServer, enroll: Enroll, tamper: dict[str, Any]
) -> None:
    method = enroll("4242424242424242")
    req = request_for(method)
    altered = msgspec.structs.replace(req, **tamper)
    assert decline_of(send(sandbox, altered)) == DeclineCode.INVALID_CRYPTOGRAM


def test_replayed_cryptogram_declined(sandbox: SandboxServer, enroll: Enroll) -> None:
    req = request_for(enroll("4242424242424242"))
    assert decline_of(send(sandbox, req)) is None
    # the same cryptogram under a new idempotency key is a replay
    assert decline_of(send(sandbox, req)) == DeclineCode.INVALID_CRYPTOGRAM


def test_expired_cryptogram_declined(sandbox: SandboxServer, enroll: Enroll) -> None:
    method = enroll("4242424242424242")
    assert method.credential
    old = int(time.time()) - sandbox.network.config.cryptogram_validity_seconds - 5
    value = compute_cryptogram(
        method.credential,
        token=method.token_ref,
        amount=500,
        currency="USD",
        merchant_id=MERCHANT_ID,
        nonce="n-old",
        timestamp=old,
    )
    req = request_for(method, nonce="n-old", timestamp=old, cryptogram=value)
    response = send(sandbox, req)
    assert decline_of(response) == DeclineCode.INVALID_CRYPTOGRAM
    assert "expired" in response.json()["message"]


def test_cryptogram_from_another_tokens_key_declined(
    sandbox: SandboxServer, enroll: Enroll
) -> None:
    mine, other = enroll("4242424242424242"), enroll("5555555555554444")
    assert other.credential
    forged = dataclasses.replace(mine, credential=other.credential)
    assert decline_of(send(sandbox, request_for(forged))) == DeclineCode.INVALID_CRYPTOGRAM


def test_token_restricted_to_requestor_and_channel(sandbox: SandboxServer, enroll: Enroll) -> None:
    method = enroll("4242424242424242")
    wrong_channel = request_for(method, channel="ecommerce")
    assert decline_of(send(sandbox, wrong_channel)) == DeclineCode.TOKEN_NOT_ALLOWED
    other = {"Authorization": "Bearer other-key", "Token-Requestor-Id": "other-requestor"}
    assert decline_of(send(sandbox, request_for(method), other)) == DeclineCode.TOKEN_NOT_ALLOWED
    stranger = {"Authorization": "Bearer wrong", "Token-Requestor-Id": REQUESTOR_ID}
    assert send(sandbox, request_for(method), stranger).status_code == 401


def _lifecycle(sandbox: SandboxServer, token: str, action: str) -> httpx.Response:
    return sandbox.admin("POST", f"/tsp/tokens/{token}/{action}")


def _events_for(sandbox: SandboxServer, token: str) -> list[tuple[str, str]]:
    found = []
    for headers, body in list(sandbox.receiver.received):
        event = verify_notification(NOTIFY_SECRET, headers[SIGNATURE_HEADER.lower()], body)
        if event.token == token:
            found.append((event.type, event.status))
    return found


def test_suspend_resume_delete_with_notifications(
    sandbox: SandboxServer, processor: SandboxProcessor, enroll: Enroll
) -> None:
    method = enroll("4242424242424242")
    token = method.token_ref
    start = len(sandbox.receiver.received)
    assert _lifecycle(sandbox, token, "suspend").json()["status"] == "suspended"
    declined = processor.authorize(
        payment_method=method,
        amount=Money(100, "USD"),
        merchant_ref=MERCHANT_ID,
        idempotency_key=uuid.uuid4().hex,
    )
    assert declined.decline_code is DeclineCode.TOKEN_SUSPENDED
    assert _lifecycle(sandbox, token, "resume").json()["status"] == "active"
    approved = processor.authorize(
        payment_method=method,
        amount=Money(100, "USD"),
        merchant_ref=MERCHANT_ID,
        idempotency_key=uuid.uuid4().hex,
    )
    assert approved.approved
    assert _lifecycle(sandbox, token, "delete").json()["status"] == "deleted"
    gone = processor.authorize(
        payment_method=method,
        amount=Money(100, "USD"),
        merchant_ref=MERCHANT_ID,
        idempotency_key=uuid.uuid4().hex,
    )
    assert gone.decline_code is DeclineCode.INVALID_TOKEN
    assert _lifecycle(sandbox, token, "resume").status_code == 422
    sandbox.receiver.wait_for(start + 3)
    assert _events_for(sandbox, token) == [
        ("token.suspended", "suspended"),
        ("token.resumed", "active"),
        ("token.deleted", "deleted"),
    ]


def test_requestor_can_suspend_only_its_own_tokens(sandbox: SandboxServer, enroll: Enroll) -> None:
    method = enroll("4242424242424242")
    url = f"{sandbox.url}/tsp/tokens/{method.token_ref}/suspend"
    other = {"Authorization": "Bearer other-key", "Token-Requestor-Id": "other-requestor"}
    assert httpx.post(url, headers=other, timeout=5).status_code == 404
    assert httpx.post(url, headers=HEADERS, timeout=5).json()["status"] == "suspended"


def test_notification_signature_checks() -> None:
    from payments.network_protocol import sign

    body = b'{"id":"evt_1","type":"token.suspended","token":"1","status":"suspended","created":1}'
    now = int(time.time())
    header = sign("secret", body, now)
    assert verify_notification("secret", header, body).type == "token.suspended"
    with pytest.raises(ValueError, match="bad signature"):
        verify_notification("secret", header, body.replace(b"suspended", b"resumed"))
    with pytest.raises(ValueError, match="bad signature"):
        verify_notification("other", header, body)
    with pytest.raises(ValueError, match="stale"):
        verify_notification("secret", sign("secret", body, now - 301), body)
    with pytest.raises(ValueError, match="malformed"):
        verify_notification("secret", "v1=abc", body)


def test_admin_endpoints_need_the_admin_key(sandbox: SandboxServer) -> None:
    response = httpx.get(
        f"{sandbox.url}/admin/cards/4242424242424242/credit/USD", headers=HEADERS, timeout=5
    )
    assert response.status_code == 401

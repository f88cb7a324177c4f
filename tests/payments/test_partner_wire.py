"""The partner protocol on the wire, between the partner processor and the sandbox
network's partner API: tampered, stale, replayed or wrongly keyed messages are refused,
keys rotate, and the API works mounted under a prefix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from test_partner_processor import (
    NEW_KEY,
    OLD_KEY,
    Sandbox,
    _hold,
    _key,
    _link,
    _usd,
    link_partner_card,
    partner_processor,
    processor,
    sandbox,
    serving_partner_sandbox,
)

from payments.errors import ProcessorError, UnknownOutcomeError
from payments.partner_protocol import Keyring, PartnerKey
from payments.processor import OperationKind
from payments.processors.partner_processor import PartnerProcessor

# Module-scoped fixtures shared with test_partner_processor (each module gets its own).
__all__ = ["processor", "sandbox"]


class _Tamper(httpx.HTTPTransport):
    """Alters requests after signing or responses after the partner signed them."""

    def __init__(self, *, request: bool = False, response: bool = False) -> None:
        super().__init__()
        self.request, self.response = request, response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.request and request.method == "POST":
            body = request.read().replace(b'"amount":400', b'"amount":4')
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            request = httpx.Request(request.method, request.url, headers=headers, content=body)
        response = super().handle_request(request)
        if not self.response:
            return response
        body = response.read().replace(b'"declined"', b'"approved"').replace(b"400", b"900")
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, content=body)


def test_tampered_request_is_refused_and_changes_nothing(
    sandbox: Sandbox, processor: PartnerProcessor
) -> None:
    method = _link(sandbox, processor)
    ref = _hold(processor, method, 1000)
    tampering = partner_processor(sandbox, transport=_Tamper(request=True))
    key = _key("c")
    with pytest.raises(ProcessorError, match="refused our signature"):
        tampering.capture(authorization_ref=ref, amount=_usd(400), idempotency_key=key)
    assert processor.query_operation(kind=OperationKind.CAPTURE, idempotency_key=key) is None
    tampering.close()


def test_tampered_response_is_not_believed(sandbox: Sandbox, processor: PartnerProcessor) -> None:
    method = _link(sandbox, processor)
    ref = _hold(processor, method, 1000)
    tampering = partner_processor(sandbox, transport=_Tamper(response=True))
    key = _key("c")
    with pytest.raises(UnknownOutcomeError, match="failed authentication"):
        tampering.capture(authorization_ref=ref, amount=_usd(400), idempotency_key=key)
    tampering.close()
    # The capture did happen; the honest answer is recovered by querying with the key.
    found = processor.query_operation(kind=OperationKind.CAPTURE, idempotency_key=key)
    assert found is not None
    assert found.captured == _usd(400)


def test_response_signed_with_unknown_key_is_not_believed(
    sandbox: Sandbox, processor: PartnerProcessor
) -> None:
    method = _link(sandbox, processor)
    ref = _hold(processor, method, 1000)
    # Knows only the old key: can sign, but cannot verify the partner's new-key answers.
    outdated = partner_processor(sandbox, keyring=Keyring([OLD_KEY], OLD_KEY.key_id))
    with pytest.raises(UnknownOutcomeError, match="unknown key id"):
        outdated.void(authorization_ref=ref, idempotency_key=_key("v"))
    outdated.close()


@pytest.mark.parametrize("offset", [timedelta(seconds=-301), timedelta(seconds=301)])
def test_stale_or_future_requests_are_refused(
    sandbox: Sandbox, processor: PartnerProcessor, offset: timedelta
) -> None:
    method = _link(sandbox, processor)
    ref = _hold(processor, method, 1000)
    skewed = partner_processor(sandbox, clock=lambda: datetime.now(UTC) + offset)
    key = _key("v")
    with pytest.raises(ProcessorError, match="refused our signature"):
        skewed.void(authorization_ref=ref, idempotency_key=key)
    skewed.close()
    assert processor.query_operation(kind=OperationKind.VOID, idempotency_key=key) is None


def test_unknown_signing_key_is_refused(sandbox: Sandbox, processor: PartnerProcessor) -> None:
    stranger_key = PartnerKey.generate("stranger")
    stranger = partner_processor(
        sandbox, keyring=Keyring([stranger_key, NEW_KEY], stranger_key.key_id)
    )
    with pytest.raises(ProcessorError, match="refused our signature"):
        stranger.query_operation(kind=OperationKind.VOID, idempotency_key="anything")
    stranger.close()


def test_replayed_request_is_refused(sandbox: Sandbox, processor: PartnerProcessor) -> None:
    method = _link(sandbox, processor)
    ref = _hold(processor, method, 1000)
    recorded: list[httpx.Request] = []

    class Recorder(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            request.read()
            recorded.append(request)
            return super().handle_request(request)

    recording = partner_processor(sandbox, transport=Recorder())
    recording.capture(authorization_ref=ref, amount=_usd(300), idempotency_key=_key("c"))
    recording.close()
    original = recorded[-1]
    replay = httpx.post(str(original.url), content=original.content, headers=original.headers)
    assert replay.status_code == 401
    assert "replayed" in replay.text


def test_key_rotation_server_accepts_old_and_new_signing_keys(
    sandbox: Sandbox, processor: PartnerProcessor
) -> None:
    rotated = partner_processor(sandbox, keyring=Keyring([OLD_KEY, NEW_KEY], NEW_KEY.key_id))
    method = _link(sandbox, processor)
    ref = _hold(rotated, method, 800)
    assert processor.void(authorization_ref=ref, idempotency_key=_key("v")).approved
    rotated.close()


def test_partner_api_mounted_under_a_prefix() -> None:
    """Signed paths are relative to the API root, so mounting changes nothing."""
    with serving_partner_sandbox("/sandbox") as mounted:
        processor = partner_processor(mounted)
        session = processor.begin_link(
            customer_ref="c", return_url="https://facepay.test/done", idempotency_key="l"
        )
        assert session.redirect_url is not None
        assert httpx.URL(session.redirect_url).path.startswith("/sandbox/tsp/enroll/")
        method = link_partner_card(mounted, processor)
        ref = _hold(processor, method, 500)
        assert processor.void(authorization_ref=ref, idempotency_key=_key("v")).approved
        processor.close()

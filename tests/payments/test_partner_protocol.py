"""The partner HMAC protocol: signing, verification, rotation, skew and replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.partner_protocol import (
    HEADER_SIGNATURE,
    Keyring,
    PartnerKey,
    PartnerSignatureError,
    ReplayGuard,
    decode_key,
    encode_key,
    sign_request,
    sign_response,
    verify_request,
    verify_response,
)

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
BODY = b'{"amount": 1200, "currency": "USD"}'
PATH = "/partner/v1/authorizations"


@pytest.fixture
def keys() -> tuple[PartnerKey, PartnerKey]:
    return PartnerKey.generate("k-2026-10"), PartnerKey.generate("k-2026-11")


def test_signed_request_verifies(keys: tuple[PartnerKey, PartnerKey]) -> None:
    ring = Keyring(keys, signing_key_id="k-2026-11")
    headers = sign_request(ring, "POST", PATH, BODY, NOW).as_dict()
    signed = verify_request(ring, "post", PATH, headers, BODY, NOW + timedelta(seconds=5))
    assert signed.key_id == "k-2026-11"


def test_rotation_old_key_still_verifies_removed_key_does_not(
    keys: tuple[PartnerKey, PartnerKey],
) -> None:
    old, new = keys
    client_before_rotation = Keyring([old], signing_key_id=old.key_id)
    server_during_rotation = Keyring([old, new], signing_key_id=new.key_id)
    server_after_rotation = Keyring([new], signing_key_id=new.key_id)
    headers = sign_request(client_before_rotation, "POST", PATH, BODY, NOW).as_dict()
    verify_request(server_during_rotation, "POST", PATH, headers, BODY, NOW)
    with pytest.raises(PartnerSignatureError, match="unknown key id"):
        verify_request(server_after_rotation, "POST", PATH, headers, BODY, NOW)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", PATH, BODY),
        ("POST", "/partner/v1/refunds", BODY),
        ("POST", PATH, BODY.replace(b"1200", b"9200")),
    ],
)
def test_tampered_request_rejected(
    keys: tuple[PartnerKey, PartnerKey], method: str, path: str, body: bytes
) -> None:
    ring = Keyring(keys, signing_key_id="k-2026-11")
    headers = sign_request(ring, "POST", PATH, BODY, NOW).as_dict()
    with pytest.raises(PartnerSignatureError, match="signature mismatch"):
        verify_request(ring, method, path, headers, body, NOW)


def test_forged_signature_with_other_secret_rejected(keys: tuple[PartnerKey, PartnerKey]) -> None:
    ring = Keyring(keys, signing_key_id="k-2026-11")
    forger = Keyring([PartnerKey.generate("k-2026-11")], signing_key_id="k-2026-11")
    headers = sign_request(forger, "POST", PATH, BODY, NOW).as_dict()
    with pytest.raises(PartnerSignatureError, match="signature mismatch"):
        verify_request(ring, "POST", PATH, headers, BODY, NOW)


@pytest.mark.parametrize("offset", [301, -301, 3600])
def test_stale_or_future_timestamp_rejected(
    keys: tuple[PartnerKey, PartnerKey], offset: int
) -> None:
    ring = Keyring(keys, signing_key_id="k-2026-11")
    headers = sign_request(ring, "POST", PATH, BODY, NOW).as_dict()
    with pytest.raises(PartnerSignatureError, match="skew"):
        verify_request(ring, "POST", PATH, headers, BODY, NOW + timedelta(seconds=offset))


def test_skew_is_configurable(keys: tuple[PartnerKey, PartnerKey]) -> None:
    ring = Keyring(keys, signing_key_id="k-2026-11")
    headers = sign_request(ring, "POST", PATH, BODY, NOW).as_dict()
    later = NOW + timedelta(seconds=31)
    verify_request(ring, "POST", PATH, headers, BODY, later)
    with pytest.raises(PartnerSignatureError, match="skew"):
        verify_request(ring, "POST", PATH, headers, BODY, later, max_skew_seconds=30)


def test_replayed_request_rejected(keys: tuple[PartnerKey, PartnerKey]) -> None:
    ring = Keyring(keys, signing_key_id="k-2026-11")
    guard = ReplayGuard()
    headers = sign_request(ring, "POST", PATH, BODY, NOW).as_dict()
    verify_request(ring, "POST", PATH, headers, BODY, NOW, replay_guard=guard)
    with pytest.raises(PartnerSignatureError, match="replayed"):
        verify_request(ring, "POST", PATH, headers, BODY, NOW, replay_guard=guard)


def test_missing_or_malformed_headers_rejected(keys: tuple[PartnerKey, PartnerKey]) -> None:
    ring = Keyring(keys, signing_key_id="k-2026-11")
    headers = sign_request(ring, "POST", PATH, BODY, NOW).as_dict()
    without_signature = {k: v for k, v in headers.items() if k != HEADER_SIGNATURE}
    with pytest.raises(PartnerSignatureError, match="missing header"):
        verify_request(ring, "POST", PATH, without_signature, BODY, NOW)
    bad_ts = {**headers, "X-Partner-Timestamp": "12e3"}
    with pytest.raises(PartnerSignatureError, match="whole number"):
        verify_request(ring, "POST", PATH, bad_ts, BODY, NOW)


def test_response_is_bound_to_its_request(keys: tuple[PartnerKey, PartnerKey]) -> None:
    ring = Keyring(keys, signing_key_id="k-2026-11")
    first = sign_request(ring, "POST", PATH, BODY, NOW)
    second = sign_request(ring, "POST", PATH, BODY, NOW)
    answer = b'{"status": "approved"}'
    response_headers = sign_response(ring, 200, first.signature, answer, NOW).as_dict()
    verify_response(ring, 200, first.signature, response_headers, answer, NOW)
    with pytest.raises(PartnerSignatureError, match="signature mismatch"):
        verify_response(ring, 200, second.signature, response_headers, answer, NOW)
    with pytest.raises(PartnerSignatureError, match="signature mismatch"):
        verify_response(ring, 402, first.signature, response_headers, answer, NOW)
    with pytest.raises(PartnerSignatureError, match="signature mismatch"):
        verify_response(ring, 200, first.signature, response_headers, b'{"status": "x"}', NOW)


def test_keyring_rejects_bad_configuration() -> None:
    key = PartnerKey.generate("a")
    with pytest.raises(ValueError, match="duplicate"):
        Keyring([key, key], signing_key_id="a")
    with pytest.raises(ValueError, match="not in the keyring"):
        Keyring([key], signing_key_id="b")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        PartnerKey("short", b"x" * 8)


@pytest.mark.parametrize("key", ["a", "capture:session/42?x=1 & ü", "x" * 200])
def test_keys_round_trip_as_one_path_segment(key: str) -> None:
    segment = encode_key(key)
    assert "/" not in segment
    assert "=" not in segment
    assert decode_key(segment) == key


@pytest.mark.parametrize("segment", ["", "a/b", "a=", "%2F", "_w"])
def test_malformed_key_segments_rejected(segment: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        decode_key(segment)


@settings(max_examples=60, deadline=None)
@given(
    body=st.binary(max_size=300),
    path=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=40),
    flip=st.integers(min_value=0),
)
def test_any_altered_byte_is_rejected(body: bytes, path: str, flip: int) -> None:
    ring = Keyring([PartnerKey(key_id="k", secret=b"s" * 32)], signing_key_id="k")
    headers = sign_request(ring, "POST", path, body, NOW).as_dict()
    verify_request(ring, "POST", path, headers, body, NOW)
    if body:
        index = flip % len(body)
        altered = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
        with pytest.raises(PartnerSignatureError, match="signature mismatch"):
            verify_request(ring, "POST", path, headers, altered, NOW)
    with pytest.raises(PartnerSignatureError, match="signature mismatch"):
        verify_request(ring, "POST", path + "x", headers, body, NOW)

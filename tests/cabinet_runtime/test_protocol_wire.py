"""Wire messages: round trips, validation, versioning, canonical command bytes."""

from __future__ import annotations

import msgspec
import pytest

from cabinet_runtime import protocol as p


def _quality() -> p.QualityReport:
    return p.QualityReport(score=0.9, passed=True, face_width_px=120)


def _liveness() -> p.LivenessReport:
    return p.LivenessReport(score=0.8, passed=True, method="multi_frame", frames=5)


def test_every_cabinet_message_round_trips_through_the_tagged_union() -> None:
    embedding = p.pack_embedding([0.5] * p.EMBEDDING_DIM)
    messages: list[p.Message] = [
        p.Hello(cabinet_id="cab-1", firmware="1.0"),
        p.AuthResponse(cabinet_id="cab-1", signature=b"\x01" * 64),
        p.Identify(session_id="s1", embedding=embedding, quality=_quality(), liveness=_liveness()),
        p.Identify(session_id="s1", qr_token="qr-abc"),
        p.StepUpDigits(session_id="s1", digits="1234"),
        p.DoorEvent(event="opened", at=1.0, session_id="s1"),
        p.SessionClosed(
            session_id="s1",
            lines=(p.BasketLine(sku="cola", qty=2, confidence=0.97),),
            review=False,
            totals=p.RecognisedTotals(
                items=2, weight_delta_g=-660.0, amount_minor=300, currency="USD"
            ),
        ),
        p.Telemetry(
            at=1.0,
            temperature_c=4.0,
            door="closed",
            locked=True,
            state="idle",
            stock=(p.LaneStock(lane="A1", sku="cola", count=3),),
            drivers=(p.DriverHealth(name="lock", ok=True),),
        ),
        p.Ack(ack_id="x"),
        p.ErrorReply(code="bad", detail="nope"),
    ]
    for message in messages:
        decoded = p.decode_from_cabinet(p.encode(message))
        assert decoded == message
        assert type(decoded) is type(message)


def test_every_server_message_round_trips() -> None:
    messages: list[p.Message] = [
        p.Challenge(nonce=b"n" * 32),
        p.AuthOk(cabinet_id="cab-1", server_time=2.0),
        p.AuthFailed(reason="unknown key"),
        p.IdentifyResult(session_id="s1", decision="step_up", reason="Enter last 4 digits"),
        p.SignedCommand(body=b"{}", signature=b"s" * 64),
        p.SessionSettled(session_id="s1", receipt_id="r1", amount_minor=1500, currency="KRW"),
        p.Ack(ack_id="y"),
    ]
    for message in messages:
        assert p.decode_from_server(p.encode(message)) == message


def test_messages_carry_unique_uuid_and_version() -> None:
    a, b = p.Ack(ack_id="1"), p.Ack(ack_id="1")
    assert a.id != b.id
    raw = msgspec.json.decode(p.encode(a))
    assert raw["type"] == "ack"
    assert raw["v"] == p.PROTOCOL_VERSION


def test_unsupported_version_and_unknown_type_are_rejected() -> None:
    with pytest.raises(p.ProtocolError, match="version"):
        p.decode_from_server(b'{"type":"ack","id":"1","v":99,"ack_id":"a"}')
    with pytest.raises(p.ProtocolError):
        p.decode_from_server(b'{"type":"format_disk","id":"1","v":1}')
    with pytest.raises(p.ProtocolError):
        p.decode_from_server(b"not json")
    # a cabinet cannot send a server-only message
    with pytest.raises(p.ProtocolError):
        p.decode_from_cabinet(p.encode(p.Challenge(nonce=b"x")))


@pytest.mark.parametrize(
    "payload",
    [
        {"session_id": "s"},  # neither embedding nor token
        {"session_id": "s", "qr_token": "t", "embedding": "AAAA"},  # both
        {"session_id": "s", "embedding": "AAAA"},  # wrong length
    ],
)
def test_identify_validation(payload: dict[str, object]) -> None:
    raw = msgspec.json.encode({"type": "identify", "id": "1", "v": 1, **payload})
    with pytest.raises(p.ProtocolError):
        p.decode_from_cabinet(raw)


def test_face_identify_needs_evidence() -> None:
    with pytest.raises(ValueError, match="quality and liveness"):
        p.Identify(session_id="s", embedding=p.pack_embedding([0.0] * 512))


def test_step_up_digits_and_currency_validation() -> None:
    with pytest.raises(ValueError, match="four digits"):
        p.StepUpDigits(session_id="s", digits="12a4")
    with pytest.raises(ValueError, match="ISO 4217"):
        p.SessionSettled(session_id="s", receipt_id="r", amount_minor=1, currency="usd")
    with pytest.raises(p.ProtocolError):
        p.decode_from_server(
            b'{"type":"session_settled","id":"1","v":1,"session_id":"s","receipt_id":"r",'
            b'"amount_minor":-5,"currency":"USD"}'
        )


def test_embedding_pack_round_trip_and_length_checks() -> None:
    values = [float(i) / 512 for i in range(512)]
    assert p.unpack_embedding(p.pack_embedding(values)) == pytest.approx(values)
    with pytest.raises(ValueError, match="512 values"):
        p.pack_embedding([1.0] * 511)
    with pytest.raises(ValueError, match="2048 bytes"):
        p.unpack_embedding(b"\x00" * 10)


def test_canonical_command_bytes_are_sorted_and_decode_back() -> None:
    cmd = p.UnlockCommand(
        cabinet_id="cab-1", nonce="n" * 32, issued_at=1.0, expires_at=31.0, session_id="s1"
    )
    body = p.canonical_command_bytes(cmd)
    keys = list(msgspec.json.decode(body).keys())
    assert keys == sorted(keys)
    assert p.decode_command_body(body) == cmd
    assert p.command_signing_payload(body).startswith(p.COMMAND_DOMAIN)
    with pytest.raises(p.ProtocolError):
        p.decode_command_body(b'{"command":"self_destruct"}')


def test_provision_structs_validate_keys_and_url() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        p.ProvisionRequest(code="abcd", public_key=b"short")
    with pytest.raises(ValueError, match="ws://"):
        p.ProvisionResponse(cabinet_id="c", server_public_key=b"k" * 32, gateway_url="http://x")
    ok = p.ProvisionResponse(cabinet_id="c", server_public_key=b"k" * 32, gateway_url="ws://x")
    assert msgspec.json.decode(msgspec.json.encode(ok), type=p.ProvisionResponse) == ok

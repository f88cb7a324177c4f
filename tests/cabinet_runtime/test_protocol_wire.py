"""Wire messages: round trips, validation, versioning, canonical command bytes, and the
limits of what the server accepts from a cabinet (sizes, ranges, unknown fields)."""

from __future__ import annotations

import math
import struct
from typing import Any

import msgspec
import pytest

from cabinet_runtime import protocol as p

UNIT = p.pack_embedding([p.EMBEDDING_DIM**-0.5] * p.EMBEDDING_DIM)


def _quality() -> p.QualityReport:
    return p.QualityReport(score=0.9, passed=True, face_width_px=120)


def _liveness() -> p.LivenessReport:
    return p.LivenessReport(score=0.8, passed=True, method="multi_frame", frames=5)


def test_every_cabinet_message_round_trips_through_the_tagged_union() -> None:
    embedding = UNIT
    messages: list[p.Message] = [
        p.Hello(cabinet_id="cab-1", firmware="1.0"),
        p.AuthResponse(cabinet_id="cab-1", signature=b"\x01" * 64),
        p.Identify(session_id="s1", embedding=embedding, quality=_quality(), liveness=_liveness()),
        p.Identify(session_id="s1", qr_token="qr-abc"),
        p.StepUpDigits(session_id="s1", digits="1234"),
        p.DoorEvent(event="opened", at=1.0, session_id="s1"),
        p.SessionClosed(
            session_id="s1",
            lines=(p.BasketLine(lane="A1", sku="cola", qty=2, confidence=0.97),),
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
        p.Identify(session_id="s", embedding=UNIT)


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


# --- the limits of what a cabinet may send ------------------------------------------------------


def _frame(**fields: Any) -> bytes:
    return msgspec.json.encode({"id": "m-1", "v": p.PROTOCOL_VERSION, **fields})


def _close(**line: Any) -> dict[str, Any]:
    base = {"lane": "A1", "sku": "cola", "qty": 1, "confidence": 1.0}
    return {
        "type": "session_closed",
        "session_id": "s1",
        "lines": [{**base, **line}],
        "review": False,
        "totals": {"items": 1, "weight_delta_g": -330.0},
    }


def _identify(embedding: bytes) -> dict[str, Any]:
    return {
        "type": "identify",
        "session_id": "s1",
        "embedding": msgspec.json.decode(msgspec.json.encode(embedding)),
        "quality": {"score": 0.9, "passed": True},
        "liveness": {"score": 0.9, "passed": True, "method": "depth"},
    }


def _floats(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def test_a_basket_line_within_limits_decodes_with_its_lane() -> None:
    message = p.decode_from_cabinet(_frame(**_close(qty=p.MAX_LINE_QTY)))
    assert isinstance(message, p.SessionClosed)
    assert message.lines[0].lane == "A1"
    assert message.lines[0].qty == p.MAX_LINE_QTY


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ({"qty": 0}, ">= 1"),
        ({"qty": -1}, ">= 1"),
        ({"qty": p.MAX_LINE_QTY + 1}, "<= 99"),
        ({"qty": 10**6}, "<= 99"),
        ({"qty": 2**62}, "<= 99"),
        ({"qty": 2**63}, "<= 99"),
        ({"qty": 2**64 + 1}, "<= 99"),
        ({"qty": 10**400}, "<= 99"),
        ({"qty": 1.5}, "got `float`"),
        ({"qty": True}, "got `bool`"),
        ({"lane": ""}, "length >= 1"),
        ({"sku": "x" * (p.MAX_ID_CHARS + 1)}, "length <= 64"),
        ({"confidence": 1.5}, "<= 1.0"),
        ({"price": 1}, "unknown field `price`"),
    ],
)
def test_a_basket_line_out_of_bounds_is_refused(line: dict[str, Any], match: str) -> None:
    with pytest.raises(p.ProtocolError, match=match) as refused:
        p.decode_from_cabinet(_frame(**_close(**line)))
    assert refused.value.ref_id == "m-1"
    assert refused.value.message_type == "session_closed"
    assert refused.value.session_id == "s1", "a malformed close still names its session"


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"NaN", b"Infinity"])
def test_floats_that_are_not_finite_are_refused(number: bytes) -> None:
    """JSON has no NaN or infinity; a number too big for a double is refused, not inf."""
    frame = _frame(**_close()).replace(b'"confidence":1.0', b'"confidence":' + number)
    assert number in frame
    with pytest.raises(p.ProtocolError):
        p.decode_from_cabinet(frame)


def test_a_basket_line_names_its_lane() -> None:
    closed = _close()
    del closed["lines"][0]["lane"]
    with pytest.raises(p.ProtocolError, match="missing required field `lane`"):
        p.decode_from_cabinet(_frame(**closed))


def test_baskets_and_totals_are_bounded() -> None:
    many = _close()
    many["lines"] = many["lines"] * (p.MAX_BASKET_LINES + 1)
    with pytest.raises(p.ProtocolError, match="length <= 64"):
        p.decode_from_cabinet(_frame(**many))
    for totals in (
        {"items": 1, "weight_delta_g": -330.0, "amount_minor": 2**63, "currency": "KRW"},
        {"items": 1, "weight_delta_g": -330.0, "amount_minor": -1, "currency": "KRW"},
        {"items": 10**9, "weight_delta_g": 0.0},
        {"items": 1, "weight_delta_g": 1e300},
    ):
        with pytest.raises(p.ProtocolError):
            p.decode_from_cabinet(_frame(**{**_close(), "totals": totals}))


@pytest.mark.parametrize(
    ("embedding", "match"),
    [
        (_floats([math.nan] + [0.0] * 511), "not a finite number"),
        (_floats([math.inf] + [0.0] * 511), "not a finite number"),
        (_floats([0.0] * 512), "norm is 0"),
        (_floats([1e30] * 512), "norm is"),
        (_floats([0.5] * 512), "norm is 11.3"),
        (UNIT[:-4], "2048 bytes"),
        (UNIT + b"\x00" * 4, "2048 bytes"),
        (b"", "2048 bytes"),
    ],
    ids=["nan", "inf", "zero", "huge", "unnormalised", "short", "long", "empty"],
)
def test_an_embedding_that_is_not_a_unit_vector_is_refused(embedding: bytes, match: str) -> None:
    with pytest.raises(p.ProtocolError, match=match):
        p.decode_from_cabinet(_frame(**_identify(embedding)))


def test_a_normalised_embedding_is_accepted_within_float32_rounding() -> None:
    values = [float(i % 7) - 3.0 for i in range(p.EMBEDDING_DIM)]
    norm = math.sqrt(sum(x * x for x in values))
    embedding = p.pack_embedding([x / norm for x in values])
    message = p.decode_from_cabinet(_frame(**_identify(embedding)))
    assert isinstance(message, p.Identify)
    assert p.embedding_problem(embedding) is None


@pytest.mark.parametrize(
    "message",
    [
        {"type": "hello", "cabinet_id": "c"},
        {"type": "auth_response", "cabinet_id": "c", "signature": "A" * 86 + "=="},
        {"type": "step_up_digits", "session_id": "s", "digits": "1234"},
        {"type": "door_event", "event": "opened", "at": 1.0},
        {"type": "ack", "ack_id": "a"},
        {"type": "error", "code": "c", "detail": "d"},
        {
            "type": "telemetry",
            "at": 1.0,
            "temperature_c": 4.0,
            "door": "closed",
            "locked": True,
            "state": "idle",
        },
        _close(),
        _identify(UNIT),
    ],
    ids=lambda m: str(m["type"]),
)
def test_every_cabinet_message_refuses_unknown_fields(message: dict[str, Any]) -> None:
    assert p.decode_from_cabinet(_frame(**message)).id == "m-1"  # valid as it is
    with pytest.raises(p.ProtocolError, match="unknown field `debug`"):
        p.decode_from_cabinet(_frame(**message, debug=True))


def test_nested_structs_refuse_unknown_fields_too() -> None:
    identify = _identify(UNIT)
    identify["liveness"]["spoof_ok"] = True
    with pytest.raises(p.ProtocolError, match="unknown field `spoof_ok`"):
        p.decode_from_cabinet(_frame(**identify))
    telemetry = {
        "type": "telemetry",
        "at": 1.0,
        "temperature_c": None,
        "door": "closed",
        "locked": True,
        "state": "idle",
        "stock": [{"lane": "A1", "sku": "cola", "count": 3, "price": 1}],
    }
    with pytest.raises(p.ProtocolError, match="unknown field `price`"):
        p.decode_from_cabinet(_frame(**telemetry))


@pytest.mark.parametrize(
    "fields",
    [
        {"at": 1e11 + 1},
        {"at": -1.0},
        {"temperature_c": 1000.0},
        {"state": "s" * 65},
        {"stock": [{"lane": "A1", "sku": "cola", "count": -1}]},
        {"stock": [{"lane": "A1", "sku": "cola", "count": 2**63}]},
    ],
)
def test_telemetry_out_of_bounds_is_refused(fields: dict[str, Any]) -> None:
    telemetry = {
        "type": "telemetry",
        "at": 1.0,
        "temperature_c": 4.0,
        "door": "closed",
        "locked": True,
        "state": "idle",
        **fields,
    }
    with pytest.raises(p.ProtocolError):
        p.decode_from_cabinet(msgspec.json.encode({"id": "m", "v": 1, **telemetry}))


def test_the_largest_legitimate_telemetry_fits_in_a_frame() -> None:
    """The frame cap is above the biggest report a cabinet can legitimately send."""
    biggest = p.Telemetry(
        at=1e10,
        temperature_c=-99.999999,
        door="unknown",
        locked=False,
        state="s" * p.MAX_ID_CHARS,
        lockout_reason="r" * 200,
        stock=tuple(
            p.LaneStock(lane=f"{i:064d}", sku="k" * p.MAX_ID_CHARS, count=p.MAX_LANE_COUNT)
            for i in range(p.MAX_LANES)
        ),
        drivers=tuple(
            p.DriverHealth(name=f"{i:064d}", ok=False, detail="d" * 200)
            for i in range(p.MAX_DRIVERS)
        ),
    )
    frame = p.encode(biggest)
    assert len(frame) <= p.MAX_FRAME_BYTES * 0.9, len(frame)
    assert p.decode_from_cabinet(frame) == biggest


@pytest.mark.parametrize("as_text", [False, True])
def test_a_frame_over_the_cap_is_refused_before_parsing(as_text: bool) -> None:
    # Valid JSON, so only the size can refuse it.
    frame = _frame(type="error", code="c", detail="x" * p.MAX_FRAME_BYTES)
    with pytest.raises(p.ProtocolError, match="larger than 65536"):
        p.decode_from_cabinet(frame.decode() if as_text else frame)
    with pytest.raises(p.ProtocolError, match="larger than 65536"):
        p.decode_from_cabinet(b"[" * (10 * 1024 * 1024))  # would be a parser bomb


def test_another_version_is_named_before_its_fields_are_judged() -> None:
    newer = _frame(**{**_close(), "v": 2, "new_field": 1})
    with pytest.raises(p.ProtocolError, match="unsupported protocol version 2") as refused:
        p.decode_from_cabinet(newer)
    assert refused.value.ref_id == "m-1"
    with pytest.raises(p.ProtocolError, match="not a JSON object"):
        p.decode_from_cabinet(b"[1, 2]")
    with pytest.raises(p.ProtocolError, match="not a JSON object"):
        p.decode_from_cabinet(b"\xff\xfe")
    with pytest.raises(p.ProtocolError, match="version 1000000") as huge:
        p.decode_from_cabinet(
            _frame(type="ack", ack_id="a").replace(b'"v":1', b'"v":1' + b"0" * 400)
        )
    assert len(str(huge.value)) < 100, "an error never echoes a whole hostile value"


def test_an_error_reply_from_an_exception_is_clipped_to_what_the_server_accepts() -> None:
    reply = p.error_reply("c" * 100, "boom " * 1000, ref_id="m-1")
    decoded = p.decode_from_cabinet(p.encode(reply))
    assert isinstance(decoded, p.ErrorReply)
    assert len(decoded.code) == p.MAX_ID_CHARS
    assert len(decoded.detail) == p.MAX_TEXT_CHARS and decoded.detail.endswith("...")

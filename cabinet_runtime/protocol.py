"""Wire messages between a cabinet and the server (both sides import this module).

Every message is a ``msgspec.Struct`` in a tagged union (tag field ``"type"``)
carrying a uuid ``id`` and the protocol version ``v``; frames are JSON.

A connection::

    cabinet → hello(cabinet_id)            server → challenge(nonce)
    cabinet → auth_response(signature)     server → auth_ok(server_time) | auth_failed
    ... then either side sends; the receiver answers every message except an
    ``ack`` with ``ack(ack_id=<its id>)`` once it has durably handled it.

The cabinet resends anything unacknowledged (after a reconnect too), so the
server must treat cabinet messages idempotently by ``id``. ``auth_response``
signs ``auth_signing_payload(cabinet_id, nonce)`` with the device's Ed25519 key.

Server commands that move hardware (unlock, lockout, config) travel as a
``SignedCommand``: ``body = canonical_command_bytes(command)`` and the server's
Ed25519 signature over ``command_signing_payload(body)``. The cabinet verifies
the bytes that were signed (never a re-encoding), then the cabinet id, the
validity window (server time) and that the nonce is new.

Everything a cabinet sends is bounded at the edge: each field has a type with
limits (lengths, ranges, finite floats, unit-length embeddings), the structs a
cabinet sends refuse unknown fields, and a frame over ``MAX_FRAME_BYTES`` is
refused before it is parsed. The version is read first, so a cabinet speaking
another version hears that rather than "unknown field"
(docs/decisions/0400-strict-cabinet-protocol.md).

Dependency-light on purpose: msgspec and the standard library only.
"""

from __future__ import annotations

import math
import re
import struct
import sys
import uuid
from array import array
from collections.abc import Sequence
from typing import Annotated, Literal

import msgspec

PROTOCOL_VERSION = 1
EMBEDDING_DIM = 512
EMBEDDING_BYTES = EMBEDDING_DIM * 4  # little-endian float32
# Tokens the platform issues for QR unlock start with this; other QR codes are ignored.
QR_TOKEN_PREFIX = "FPQ1."  # noqa: S105 - a marker, not a secret

AUTH_DOMAIN = b"facepay-cabinet-auth-v1\n"
COMMAND_DOMAIN = b"facepay-cabinet-command-v1\n"

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DIGITS = re.compile(r"^[0-9]{4}$")

# --- what a cabinet may send, at most ---------------------------------------------------------
# The largest legitimate frame is the telemetry of a big cabinet: MAX_LANES lane counts and
# MAX_DRIVERS driver reports, every text at its longest, encode to about 52 KiB (a test
# builds that report and checks it fits).
MAX_FRAME_BYTES = 64 * 1024
MAX_ID_CHARS = 64  # the width of the server's id columns (sku, lane, session)
MAX_TEXT_CHARS = 500
MAX_LINE_QTY = 99  # no lane holds more; a bigger number is a fault, not a basket
MAX_BASKET_LINES = 64
MAX_LANES = 256
MAX_DRIVERS = 32
MAX_LANE_COUNT = 10_000
MAX_REASONS = 32
# Far above any basket and far below int64, so sums of lines never overflow a BIGINT.
MAX_MINOR_UNITS = 10**12
# The cabinet sends L2-normalised embeddings; float32 rounding stays far below this.
EMBEDDING_NORM_TOLERANCE = 1e-3


class ProtocolError(ValueError):
    """A message is malformed, of an unknown type or of an unsupported version.

    What could be read of the frame travels along, so a reply can name the message
    (``ref_id``) and a malformed close still names its session.
    """

    def __init__(
        self,
        detail: str,
        *,
        ref_id: str | None = None,
        message_type: str | None = None,
        session_id: str | None = None,
    ) -> None:
        # Clipped: the detail goes back to the sender in an ErrorReply, which is bounded too.
        super().__init__(detail if len(detail) <= 300 else detail[:297] + "...")
        self.ref_id = ref_id
        self.message_type = message_type
        self.session_id = session_id


def new_message_id() -> str:
    return str(uuid.uuid4())


Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Label = Annotated[str, msgspec.Meta(max_length=MAX_ID_CHARS)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS)]
Reasons = Annotated[
    tuple[Annotated[str, msgspec.Meta(max_length=200)], ...],
    msgspec.Meta(max_length=MAX_REASONS),
]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_LANE_COUNT)]
Confidence = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Minor = Annotated[int, msgspec.Meta(ge=0, le=MAX_MINOR_UNITS)]
# Seconds since the epoch: finite, not before 1970 and not after the year 5000.
Timestamp = Annotated[float, msgspec.Meta(ge=0.0, le=1e11)]
Grams = Annotated[float, msgspec.Meta(ge=-1e6, le=1e6)]
Celsius = Annotated[float, msgspec.Meta(ge=-100.0, le=150.0)]
Version = Annotated[int, msgspec.Meta(ge=0, le=2**16)]


class Message(msgspec.Struct, tag_field="type", kw_only=True, frozen=True):
    """Base of every wire message.

    A message a cabinet sends is declared with ``forbid_unknown_fields=True``; the
    cabinet reads the server's messages leniently (servers are upgraded first).
    """

    id: Id = msgspec.field(default_factory=new_message_id)
    v: Version = PROTOCOL_VERSION


# --- authentication ---------------------------------------------------------------------------


class Hello(Message, tag="hello", frozen=True, forbid_unknown_fields=True):
    """First message of a connection: who is calling."""

    cabinet_id: Id
    firmware: Label = ""


class Challenge(Message, tag="challenge", frozen=True):
    """Server → cabinet: random bytes the cabinet must sign with its device key."""

    nonce: bytes


class AuthResponse(Message, tag="auth_response", frozen=True, forbid_unknown_fields=True):
    """Cabinet → server: Ed25519 signature over ``auth_signing_payload``."""

    cabinet_id: Id
    signature: Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]


class AuthOk(Message, tag="auth_ok", frozen=True):
    cabinet_id: NonEmpty
    server_time: float


class AuthFailed(Message, tag="auth_failed", frozen=True):
    reason: str


def auth_signing_payload(cabinet_id: str, nonce: bytes) -> bytes:
    """What the device signs: binds the challenge to the cabinet id."""
    return AUTH_DOMAIN + cabinet_id.encode() + b"\n" + nonce


# --- identification ---------------------------------------------------------------------------


class QualityReport(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    score: Confidence
    passed: bool
    face_width_px: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 0
    reasons: Reasons = ()


class LivenessReport(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    score: Confidence
    passed: bool
    method: Annotated[str, msgspec.Meta(max_length=200)]
    frames: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 1
    reasons: Reasons = ()


def embedding_problem(data: bytes) -> str | None:
    """Why ``data`` is not an embedding a cabinet may send, or None when it is one:
    512 little-endian float32, every value finite, L2 norm 1 (so never zero)."""
    if len(data) != EMBEDDING_BYTES:
        return f"embedding must be {EMBEDDING_BYTES} bytes (512 float32), got {len(data)}"
    values = array("f", data)
    if sys.byteorder != "little":
        values.byteswap()
    if not all(math.isfinite(x) for x in values):
        return "embedding has a value that is not a finite number"
    norm = math.sqrt(math.fsum(x * x for x in values))
    if abs(norm - 1.0) > EMBEDDING_NORM_TOLERANCE:
        return f"embedding must be L2-normalised (norm 1), its norm is {norm:.6g}"
    return None


class Identify(Message, tag="identify", frozen=True, forbid_unknown_fields=True):
    """Cabinet → server: a face embedding with its evidence, or a QR token instead.

    Exactly one of ``embedding`` (512 little-endian float32, L2-normalised) and
    ``qr_token``. ``pack_id`` names the face model pack that computed the
    embedding: the server never compares it with templates of another pack.
    """

    session_id: Id
    embedding: bytes | None = None
    quality: QualityReport | None = None
    liveness: LivenessReport | None = None
    qr_token: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    pack_id: Annotated[str, msgspec.Meta(max_length=128)] | None = None

    def __post_init__(self) -> None:
        if (self.embedding is None) == (self.qr_token is None):
            raise ValueError("identify needs exactly one of embedding and qr_token")
        if self.embedding is not None:
            problem = embedding_problem(self.embedding)
            if problem is not None:
                raise ValueError(problem)
            if self.quality is None or self.liveness is None:
                raise ValueError("a face identify carries its quality and liveness reports")
        elif not self.qr_token:
            raise ValueError("qr_token is empty")


def pack_embedding(values: Sequence[float]) -> bytes:
    if len(values) != EMBEDDING_DIM:
        raise ValueError(f"embedding must have {EMBEDDING_DIM} values, got {len(values)}")
    return struct.pack(f"<{EMBEDDING_DIM}f", *values)


def unpack_embedding(data: bytes) -> tuple[float, ...]:
    if len(data) != EMBEDDING_BYTES:
        raise ValueError(f"embedding must be {EMBEDDING_BYTES} bytes")
    return struct.unpack(f"<{EMBEDDING_DIM}f", data)


class StepUpDigits(Message, tag="step_up_digits", frozen=True, forbid_unknown_fields=True):
    session_id: Id
    digits: Annotated[str, msgspec.Meta(max_length=4)]

    def __post_init__(self) -> None:
        if not _DIGITS.match(self.digits):
            raise ValueError("step-up digits are exactly four digits")


class IdentifyResult(Message, tag="identify_result", frozen=True):
    """Server → cabinet. ``reason`` is shown on the cabinet display."""

    session_id: NonEmpty
    decision: Literal["approve", "step_up", "deny"]
    reason: str = ""


# --- the purchase -----------------------------------------------------------------------------

DoorEventKind = Literal["opened", "closed", "left_open", "forced"]


class DoorEvent(Message, tag="door_event", frozen=True, forbid_unknown_fields=True):
    event: DoorEventKind
    at: Timestamp
    session_id: Id | None = None


class BasketLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What was taken from one lane. ``lane`` is required: the server checks each
    line against what that lane holds (docs/decisions/0401-basket-lines-name-lanes.md)."""

    lane: Id
    sku: Id
    qty: Annotated[int, msgspec.Meta(ge=1, le=MAX_LINE_QTY)]
    confidence: Confidence


class RecognisedTotals(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The cabinet's own view of the basket, for the record: the server prices from
    its catalogue and never charges these amounts."""

    items: Annotated[int, msgspec.Meta(ge=0, le=MAX_BASKET_LINES * MAX_LINE_QTY)]
    weight_delta_g: Grams
    amount_minor: Minor | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        if (self.amount_minor is None) != (self.currency is None):
            raise ValueError("amount_minor and currency come together")
        if self.currency is not None and not _CURRENCY.match(self.currency):
            raise ValueError("currency must be an ISO 4217 code")


class SessionClosed(Message, tag="session_closed", frozen=True, forbid_unknown_fields=True):
    session_id: Id
    lines: Annotated[tuple[BasketLine, ...], msgspec.Meta(max_length=MAX_BASKET_LINES)]
    review: bool
    totals: RecognisedTotals
    confidence: Confidence = 1.0
    recovered: bool = False  # finished after a restart from the local store


class SessionSettled(Message, tag="session_settled", frozen=True):
    session_id: NonEmpty
    receipt_id: NonEmpty
    amount_minor: Minor
    currency: str

    def __post_init__(self) -> None:
        if not _CURRENCY.match(self.currency):
            raise ValueError("currency must be an ISO 4217 code")


# --- telemetry --------------------------------------------------------------------------------


class LaneStock(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    lane: Id
    sku: Id
    count: Count


class DriverHealth(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Id
    ok: bool
    detail: Annotated[str, msgspec.Meta(max_length=200)] = ""


class Telemetry(Message, tag="telemetry", frozen=True, forbid_unknown_fields=True):
    at: Timestamp
    temperature_c: Celsius | None
    door: Literal["open", "closed", "unknown"]
    locked: bool
    state: Label
    lockout_reason: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    stock: Annotated[tuple[LaneStock, ...], msgspec.Meta(max_length=MAX_LANES)] = ()
    drivers: Annotated[tuple[DriverHealth, ...], msgspec.Meta(max_length=MAX_DRIVERS)] = ()


# --- acknowledgement and errors ---------------------------------------------------------------
# Both sides send these; they are strict both ways (the cabinet never needs new fields in them).


class Ack(Message, tag="ack", frozen=True, forbid_unknown_fields=True):
    """Either side: the message ``ack_id`` was received and durably handled."""

    ack_id: Id


class ErrorReply(Message, tag="error", frozen=True, forbid_unknown_fields=True):
    code: Label
    detail: Text
    ref_id: Id | None = None


def error_reply(code: str, detail: str, ref_id: str | None = None) -> ErrorReply:
    """An ErrorReply clipped to its limits, for a detail that comes from an exception."""
    if len(detail) > MAX_TEXT_CHARS:
        detail = detail[: MAX_TEXT_CHARS - 3] + "..."
    return ErrorReply(code=code[:MAX_ID_CHARS], detail=detail, ref_id=ref_id)


# --- signed commands --------------------------------------------------------------------------


class CommandBody(msgspec.Struct, tag_field="command", kw_only=True, frozen=True):
    """Fields every command carries; the signature covers all of them."""

    cabinet_id: NonEmpty
    nonce: Annotated[str, msgspec.Meta(min_length=16, max_length=128)]
    issued_at: float
    expires_at: float
    v: int = PROTOCOL_VERSION


class UnlockCommand(CommandBody, tag="unlock", frozen=True):
    session_id: NonEmpty
    display_message: str = ""


class LockoutCommand(CommandBody, tag="lockout", frozen=True):
    """``clear=False`` enters maintenance lockout; ``clear=True`` is the operator's release."""

    reason: str
    clear: bool = False


class ConfigCommand(CommandBody, tag="config", frozen=True):
    telemetry_interval_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    unlock_timeout_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    door_open_alarm_s: Annotated[float, msgspec.Meta(gt=0)] | None = None


AnyCommand = UnlockCommand | LockoutCommand | ConfigCommand


class SignedCommand(Message, tag="command", frozen=True):
    body: bytes  # canonical_command_bytes(command), exactly as signed
    signature: bytes  # Ed25519 over command_signing_payload(body)


def canonical_command_bytes(command: AnyCommand) -> bytes:
    return msgspec.json.encode(command, order="sorted")


def command_signing_payload(body: bytes) -> bytes:
    return COMMAND_DOMAIN + body


_command_decoder: msgspec.json.Decoder[AnyCommand] = msgspec.json.Decoder(AnyCommand)


def decode_command_body(body: bytes) -> AnyCommand:
    try:
        return _command_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"bad command body: {exc}") from exc


# --- unions and codec -------------------------------------------------------------------------

CabinetMessage = (
    Hello
    | AuthResponse
    | Identify
    | StepUpDigits
    | DoorEvent
    | SessionClosed
    | Telemetry
    | Ack
    | ErrorReply
)
ServerMessage = (
    Challenge
    | AuthOk
    | AuthFailed
    | IdentifyResult
    | SignedCommand
    | SessionSettled
    | Ack
    | ErrorReply
)


class _Envelope(msgspec.Struct):
    """What is read of a frame before the full decode: lenient, every field optional."""

    type: object = None
    id: object = None
    v: object = PROTOCOL_VERSION  # as in Message: a frame without ``v`` speaks this version
    session_id: object = None


_encoder = msgspec.json.Encoder()
_envelope_decoder = msgspec.json.Decoder(_Envelope)
_cabinet_decoder: msgspec.json.Decoder[CabinetMessage] = msgspec.json.Decoder(CabinetMessage)
_server_decoder: msgspec.json.Decoder[ServerMessage] = msgspec.json.Decoder(ServerMessage)


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


def _short_text(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS else None


def _check_version(message: Message) -> None:
    if message.v != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {message.v}")


def _frame_bytes(data: bytes | str) -> bytes:
    if isinstance(data, str):
        if len(data) > MAX_FRAME_BYTES:  # every character is at least one byte
            raise ProtocolError(f"frame larger than {MAX_FRAME_BYTES} bytes")
        data = data.encode()
    if len(data) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(data)} bytes, larger than {MAX_FRAME_BYTES}")
    return data


def decode_from_cabinet(data: bytes | str) -> CabinetMessage:
    """What the server calls on every frame it receives.

    In this order: the size (before any parsing), the envelope (a JSON object,
    its version), then the message with every field's limits.
    """
    frame = _frame_bytes(data)
    try:
        envelope = _envelope_decoder.decode(frame)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"not a JSON object: {exc}") from exc
    found = {
        "ref_id": _short_text(envelope.id),
        "message_type": _short_text(envelope.type),
        "session_id": _short_text(envelope.session_id),
    }
    if envelope.v != PROTOCOL_VERSION:
        version = repr(envelope.v)[:20]
        raise ProtocolError(
            f"unsupported protocol version {version}; this server speaks {PROTOCOL_VERSION}",
            **found,
        )
    try:
        return _cabinet_decoder.decode(frame)
    except msgspec.DecodeError as exc:
        raise ProtocolError(str(exc), **found) from exc


def decode_from_server(data: bytes | str) -> ServerMessage:
    """What the cabinet calls on every frame it receives."""
    try:
        message = _server_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ProtocolError(str(exc)) from exc
    _check_version(message)
    return message


# --- provisioning over HTTP -------------------------------------------------------------------

PROVISION_PATH = "/v1/cabinets/provision"


class ProvisionRequest(msgspec.Struct, frozen=True, kw_only=True):
    """POST {server}/v1/cabinets/provision; ``public_key`` is the raw 32-byte Ed25519 key."""

    code: Annotated[str, msgspec.Meta(min_length=4, max_length=200)]
    public_key: bytes

    def __post_init__(self) -> None:
        if len(self.public_key) != 32:
            raise ValueError("public_key must be a raw 32-byte Ed25519 key")


class ProvisionResponse(msgspec.Struct, frozen=True, kw_only=True):
    cabinet_id: NonEmpty
    server_public_key: bytes  # raw 32-byte Ed25519 key the cabinet pins
    gateway_url: NonEmpty

    def __post_init__(self) -> None:
        if len(self.server_public_key) != 32:
            raise ValueError("server_public_key must be a raw 32-byte Ed25519 key")
        if not self.gateway_url.startswith(("ws://", "wss://")):
            raise ValueError("gateway_url must be a ws:// or wss:// URL")

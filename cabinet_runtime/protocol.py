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

Dependency-light on purpose: msgspec and the standard library only.
"""

from __future__ import annotations

import re
import struct
import uuid
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


class ProtocolError(ValueError):
    """A message is malformed, of an unknown type or of an unsupported version."""


def new_message_id() -> str:
    return str(uuid.uuid4())


NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Count = Annotated[int, msgspec.Meta(ge=0)]
Confidence = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Minor = Annotated[int, msgspec.Meta(ge=0)]


class Message(msgspec.Struct, tag_field="type", kw_only=True, frozen=True):
    """Base of every wire message."""

    id: str = msgspec.field(default_factory=new_message_id)
    v: int = PROTOCOL_VERSION


# --- authentication ---------------------------------------------------------------------------


class Hello(Message, tag="hello", frozen=True):
    """First message of a connection: who is calling."""

    cabinet_id: NonEmpty
    firmware: str = ""


class Challenge(Message, tag="challenge", frozen=True):
    """Server → cabinet: random bytes the cabinet must sign with its device key."""

    nonce: bytes


class AuthResponse(Message, tag="auth_response", frozen=True):
    """Cabinet → server: Ed25519 signature over ``auth_signing_payload``."""

    cabinet_id: NonEmpty
    signature: bytes


class AuthOk(Message, tag="auth_ok", frozen=True):
    cabinet_id: NonEmpty
    server_time: float


class AuthFailed(Message, tag="auth_failed", frozen=True):
    reason: str


def auth_signing_payload(cabinet_id: str, nonce: bytes) -> bytes:
    """What the device signs: binds the challenge to the cabinet id."""
    return AUTH_DOMAIN + cabinet_id.encode() + b"\n" + nonce


# --- identification ---------------------------------------------------------------------------


class QualityReport(msgspec.Struct, frozen=True, kw_only=True):
    score: Confidence
    passed: bool
    face_width_px: int = 0
    reasons: tuple[str, ...] = ()


class LivenessReport(msgspec.Struct, frozen=True, kw_only=True):
    score: Confidence
    passed: bool
    method: str
    frames: int = 1
    reasons: tuple[str, ...] = ()


class Identify(Message, tag="identify", frozen=True):
    """Cabinet → server: a face embedding with its evidence, or a QR token instead.

    Exactly one of ``embedding`` (512 little-endian float32) and ``qr_token``.
    ``pack_id`` names the face model pack that computed the embedding: the server
    never compares it with templates of another pack.
    """

    session_id: NonEmpty
    embedding: bytes | None = None
    quality: QualityReport | None = None
    liveness: LivenessReport | None = None
    qr_token: str | None = None
    pack_id: str | None = None

    def __post_init__(self) -> None:
        if (self.embedding is None) == (self.qr_token is None):
            raise ValueError("identify needs exactly one of embedding and qr_token")
        if self.embedding is not None:
            if len(self.embedding) != EMBEDDING_BYTES:
                raise ValueError(f"embedding must be {EMBEDDING_BYTES} bytes (512 float32)")
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


class StepUpDigits(Message, tag="step_up_digits", frozen=True):
    session_id: NonEmpty
    digits: str

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


class DoorEvent(Message, tag="door_event", frozen=True):
    event: DoorEventKind
    at: float
    session_id: str | None = None


class BasketLine(msgspec.Struct, frozen=True, kw_only=True):
    sku: NonEmpty
    qty: Annotated[int, msgspec.Meta(ge=1)]
    confidence: Confidence


class RecognisedTotals(msgspec.Struct, frozen=True, kw_only=True):
    items: Count
    weight_delta_g: float
    amount_minor: Minor | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        if (self.amount_minor is None) != (self.currency is None):
            raise ValueError("amount_minor and currency come together")
        if self.currency is not None and not _CURRENCY.match(self.currency):
            raise ValueError("currency must be an ISO 4217 code")


class SessionClosed(Message, tag="session_closed", frozen=True):
    session_id: NonEmpty
    lines: tuple[BasketLine, ...]
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


class LaneStock(msgspec.Struct, frozen=True, kw_only=True):
    lane: NonEmpty
    sku: NonEmpty
    count: Count


class DriverHealth(msgspec.Struct, frozen=True, kw_only=True):
    name: NonEmpty
    ok: bool
    detail: str = ""


class Telemetry(Message, tag="telemetry", frozen=True):
    at: float
    temperature_c: float | None
    door: Literal["open", "closed", "unknown"]
    locked: bool
    state: str
    lockout_reason: str | None = None
    stock: tuple[LaneStock, ...] = ()
    drivers: tuple[DriverHealth, ...] = ()


# --- acknowledgement and errors ---------------------------------------------------------------


class Ack(Message, tag="ack", frozen=True):
    """Either side: the message ``ack_id`` was received and durably handled."""

    ack_id: NonEmpty


class ErrorReply(Message, tag="error", frozen=True):
    code: str
    detail: str
    ref_id: str | None = None


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

_encoder = msgspec.json.Encoder()
_cabinet_decoder: msgspec.json.Decoder[CabinetMessage] = msgspec.json.Decoder(CabinetMessage)
_server_decoder: msgspec.json.Decoder[ServerMessage] = msgspec.json.Decoder(ServerMessage)


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


def _check_version(message: Message) -> None:
    if message.v != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {message.v}")


def decode_from_cabinet(data: bytes | str) -> CabinetMessage:
    """What the server calls on every frame it receives."""
    try:
        message = _cabinet_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ProtocolError(str(exc)) from exc
    _check_version(message)
    return message


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

"""The server's side of a cabinet connection, independent of the transport.

Device authentication, presence, and the durable server→cabinet outbox. The
API's WebSocket gateway drives these; the checkout saga uses ``enqueue``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cabinet_runtime.protocol import Message, Telemetry, auth_signing_payload, encode
from facepay.cabinets.models import Cabinet, CabinetOutboxMessage
from facepay.db.base import utcnow


class DeviceAuthError(Exception):
    """The device could not prove it holds the key registered for the cabinet."""


def new_challenge() -> bytes:
    return secrets.token_bytes(32)


def authenticate_device(
    session: Session, cabinet_id: str, nonce: bytes, signature: bytes
) -> Cabinet:
    cabinet = session.get(Cabinet, cabinet_id)
    # One message for every failure: an unknown cabinet and a bad signature look alike.
    failure = DeviceAuthError("device authentication failed")
    if cabinet is None or cabinet.device_public_key is None or cabinet.status == "retired":
        raise failure
    try:
        Ed25519PublicKey.from_public_bytes(cabinet.device_public_key).verify(
            signature, auth_signing_payload(cabinet_id, nonce)
        )
    except (InvalidSignature, ValueError):
        raise failure from None
    return cabinet


def set_presence(session: Session, cabinet_id: str, online: bool) -> None:
    session.execute(
        update(Cabinet).where(Cabinet.id == cabinet_id).values(online=online, last_seen_at=utcnow())
    )


def record_telemetry(session: Session, cabinet_id: str, report: Telemetry) -> None:
    body = json.dumps(msgspec.to_builtins(report), sort_keys=True)
    session.execute(
        update(Cabinet)
        .where(Cabinet.id == cabinet_id)
        .values(last_telemetry=body, last_seen_at=utcnow(), online=True)
    )


def enqueue(session: Session, cabinet_id: str, message: Message) -> bytes:
    """Keep a message for the cabinet until it acknowledges it; returns the wire bytes."""
    payload = encode(message)
    session.add(CabinetOutboxMessage(id=message.id, cabinet_id=cabinet_id, payload=payload))
    session.flush()
    return payload


def unacknowledged(session: Session, cabinet_id: str) -> Sequence[bytes]:
    return session.scalars(
        select(CabinetOutboxMessage.payload)
        .where(
            CabinetOutboxMessage.cabinet_id == cabinet_id, CabinetOutboxMessage.acked_at.is_(None)
        )
        .order_by(CabinetOutboxMessage.created_at)
    ).all()


def acknowledge(session: Session, cabinet_id: str, message_id: str) -> bool:
    """Only the addressed cabinet can acknowledge its own messages."""
    result = session.execute(
        update(CabinetOutboxMessage)
        .where(
            CabinetOutboxMessage.id == message_id,
            CabinetOutboxMessage.cabinet_id == cabinet_id,
            CabinetOutboxMessage.acked_at.is_(None),
        )
        .values(acked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]

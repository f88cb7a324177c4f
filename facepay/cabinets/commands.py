"""Commands to cabinets, signed with the server's Ed25519 key.

The cabinet verifies signature, cabinet id, expiry and nonce before it moves
anything (cabinet_runtime.commands).
"""

from __future__ import annotations

import secrets
import time
from typing import TypedDict

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cabinet_runtime.protocol import (
    AnyCommand,
    LockoutCommand,
    SignedCommand,
    UnlockCommand,
    canonical_command_bytes,
    command_signing_payload,
)

COMMAND_VALIDITY_S = 30.0


def sign_command(key: Ed25519PrivateKey, command: AnyCommand) -> SignedCommand:
    body = canonical_command_bytes(command)
    return SignedCommand(body=body, signature=key.sign(command_signing_payload(body)))


class _Envelope(TypedDict):
    cabinet_id: str
    nonce: str
    issued_at: float
    expires_at: float


def _fresh(cabinet_id: str) -> _Envelope:
    """What every command carries: its address, a nonce never used before, a short life."""
    issued = time.time()
    return _Envelope(
        cabinet_id=cabinet_id,
        nonce=secrets.token_hex(16),
        issued_at=issued,
        expires_at=issued + COMMAND_VALIDITY_S,
    )


def unlock(
    key: Ed25519PrivateKey, cabinet_id: str, session_id: str, message: str = ""
) -> SignedCommand:
    command = UnlockCommand(**_fresh(cabinet_id), session_id=session_id, display_message=message)
    return sign_command(key, command)


def lockout(key: Ed25519PrivateKey, cabinet_id: str, reason: str, clear: bool) -> SignedCommand:
    command = LockoutCommand(**_fresh(cabinet_id), reason=reason, clear=clear)
    return sign_command(key, command)

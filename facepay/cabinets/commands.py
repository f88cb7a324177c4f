"""Commands to cabinets, signed with the server's Ed25519 key.

The cabinet verifies signature, cabinet id, expiry and nonce before it moves
anything (cabinet_runtime.commands).
"""

from __future__ import annotations

import secrets
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cabinet_runtime.protocol import (
    AnyCommand,
    LockoutCommand,
    SignedCommand,
    UnlockCommand,
    canonical_command_bytes,
    command_signing_payload,
)

UNLOCK_VALIDITY_S = 30.0


def sign_command(key: Ed25519PrivateKey, command: AnyCommand) -> SignedCommand:
    body = canonical_command_bytes(command)
    return SignedCommand(body=body, signature=key.sign(command_signing_payload(body)))


def unlock(
    key: Ed25519PrivateKey, cabinet_id: str, session_id: str, message: str = ""
) -> SignedCommand:
    issued = time.time()
    return sign_command(
        key,
        UnlockCommand(
            cabinet_id=cabinet_id,
            nonce=secrets.token_hex(16),
            issued_at=issued,
            expires_at=issued + UNLOCK_VALIDITY_S,
            session_id=session_id,
            display_message=message,
        ),
    )


def lockout(key: Ed25519PrivateKey, cabinet_id: str, reason: str, clear: bool) -> SignedCommand:
    issued = time.time()
    return sign_command(
        key,
        LockoutCommand(
            cabinet_id=cabinet_id,
            nonce=secrets.token_hex(16),
            issued_at=issued,
            expires_at=issued + UNLOCK_VALIDITY_S,
            reason=reason,
            clear=clear,
        ),
    )

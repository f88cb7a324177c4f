"""Verification of server commands before anything moves.

A command is accepted only if, in this order: the Ed25519 signature over the
exact body bytes verifies against the server key pinned at provisioning; the
body decodes to a known command of our protocol version; it is addressed to
this cabinet; it is within its validity window; and its nonce was never seen
before (claimed durably, so a replay after a restart is refused too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cabinet_runtime.identity import verify_ed25519
from cabinet_runtime.protocol import (
    PROTOCOL_VERSION,
    AnyCommand,
    ProtocolError,
    SignedCommand,
    command_signing_payload,
    decode_command_body,
)

RejectReason = Literal[
    "bad_signature", "malformed", "wrong_cabinet", "expired", "not_yet_valid", "replayed"
]


class CommandRejectedError(Exception):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: RejectReason = reason
        self.detail = detail


class NonceLedger(Protocol):
    def claim_nonce(self, nonce: str, expires_at: float) -> bool: ...


class CommandVerifier:
    def __init__(
        self,
        *,
        cabinet_id: str,
        server_key: Ed25519PublicKey,
        nonces: NonceLedger,
        wall_clock: Callable[[], float] = time.time,
        clock_skew_s: float = 5.0,
        max_lifetime_s: float = 600.0,
    ) -> None:
        self._cabinet_id = cabinet_id
        self._server_key = server_key
        self._nonces = nonces
        self._now = wall_clock
        self._skew = clock_skew_s
        self._max_lifetime = max_lifetime_s

    def verify(self, signed: SignedCommand) -> AnyCommand:
        if not verify_ed25519(
            self._server_key, signed.signature, command_signing_payload(signed.body)
        ):
            raise CommandRejectedError(
                "bad_signature", "signature does not match the pinned server key"
            )
        try:
            command = decode_command_body(signed.body)
        except ProtocolError as exc:
            raise CommandRejectedError("malformed", str(exc)) from exc
        if command.v != PROTOCOL_VERSION:
            raise CommandRejectedError("malformed", f"unsupported command version {command.v}")
        if command.cabinet_id != self._cabinet_id:
            raise CommandRejectedError(
                "wrong_cabinet", f"addressed to {command.cabinet_id!r}, not {self._cabinet_id!r}"
            )
        now = self._now()
        if command.expires_at <= now - self._skew:
            raise CommandRejectedError(
                "expired", f"expired at {command.expires_at:.0f}, now {now:.0f}"
            )
        if command.issued_at > now + self._skew:
            raise CommandRejectedError("not_yet_valid", "issued in the future")
        if command.expires_at - command.issued_at > self._max_lifetime:
            raise CommandRejectedError("malformed", "validity window longer than allowed")
        # Claimed last: a command rejected for another reason must not burn its nonce.
        if not self._nonces.claim_nonce(command.nonce, command.expires_at + self._skew):
            raise CommandRejectedError("replayed", f"nonce {command.nonce[:12]}… already used")
        return command

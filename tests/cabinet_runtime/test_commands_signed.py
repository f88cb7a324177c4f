"""Server command verification: signature, addressing, validity window, replay."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cabinet_runtime import protocol as p
from cabinet_runtime.commands import CommandRejectedError, CommandVerifier
from cabinet_runtime.store import LocalStore

NOW = 1_800_000_000.0
SERVER_KEY = Ed25519PrivateKey.generate()


def _signed(command: p.AnyCommand, key: Ed25519PrivateKey = SERVER_KEY) -> p.SignedCommand:
    body = p.canonical_command_bytes(command)
    return p.SignedCommand(body=body, signature=key.sign(p.command_signing_payload(body)))


def _unlock(**overrides: object) -> p.UnlockCommand:
    fields: dict[str, object] = {
        "cabinet_id": "cab-1",
        "nonce": secrets.token_hex(16),
        "issued_at": NOW,
        "expires_at": NOW + 30,
        "session_id": "s1",
    }
    fields.update(overrides)
    return p.UnlockCommand(**fields)  # type: ignore[arg-type]


def _verifier(store: LocalStore, now: float = NOW) -> CommandVerifier:
    return CommandVerifier(
        cabinet_id="cab-1",
        server_key=SERVER_KEY.public_key(),
        nonces=store,
        wall_clock=lambda: now,
    )


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "state.db")


def test_a_valid_command_is_accepted_once(store: LocalStore) -> None:
    command = _unlock()
    assert _verifier(store).verify(_signed(command)) == command
    with pytest.raises(CommandRejectedError) as info:
        _verifier(store).verify(_signed(command))
    assert info.value.reason == "replayed"


def test_replay_is_refused_after_a_restart(tmp_path: Path) -> None:
    command = _signed(_unlock())
    first = LocalStore(tmp_path / "state.db")
    _verifier(first).verify(command)
    first.close()
    second = LocalStore(tmp_path / "state.db")
    with pytest.raises(CommandRejectedError, match="replayed"):
        _verifier(second).verify(command)


@pytest.mark.parametrize(
    ("signed", "reason"),
    [
        (_signed(_unlock(), Ed25519PrivateKey.generate()), "bad_signature"),
        (_signed(_unlock(cabinet_id="cab-2")), "wrong_cabinet"),
        (_signed(_unlock(issued_at=NOW - 120, expires_at=NOW - 60)), "expired"),
        (_signed(_unlock(issued_at=NOW + 600, expires_at=NOW + 630)), "not_yet_valid"),
        (_signed(_unlock(expires_at=NOW + 86_400)), "malformed"),
    ],
    ids=["forged", "wrong-cabinet", "expired", "future", "too-long"],
)
def test_bad_commands_are_rejected_without_burning_the_nonce(
    store: LocalStore, signed: p.SignedCommand, reason: str
) -> None:
    with pytest.raises(CommandRejectedError) as info:
        _verifier(store).verify(signed)
    assert info.value.reason == reason
    nonce = p.decode_command_body(signed.body).nonce
    assert store.claim_nonce(nonce, NOW + 60)  # still unclaimed


def test_a_tampered_body_fails_the_signature(store: LocalStore) -> None:
    good = _signed(_unlock())
    tampered = p.SignedCommand(
        body=good.body.replace(b'"cab-1"', b'"cab-2"'), signature=good.signature
    )
    with pytest.raises(CommandRejectedError, match="bad_signature"):
        _verifier(store).verify(tampered)


def test_a_signed_body_that_is_not_a_command_is_malformed(store: LocalStore) -> None:
    body = b'{"command":"open_all_doors","cabinet_id":"cab-1"}'
    signed = p.SignedCommand(body=body, signature=SERVER_KEY.sign(p.command_signing_payload(body)))
    with pytest.raises(CommandRejectedError, match="malformed"):
        _verifier(store).verify(signed)


def test_expired_nonces_can_be_pruned(store: LocalStore) -> None:
    assert store.claim_nonce("a" * 32, NOW - 10)
    assert store.claim_nonce("b" * 32, NOW + 10)
    assert store.prune_nonces(NOW) == 1
    assert not store.claim_nonce("b" * 32, NOW + 10)

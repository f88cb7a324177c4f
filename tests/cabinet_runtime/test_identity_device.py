"""Device identity and provisioning against the test peer's real HTTP endpoint."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from peer import ProtocolPeer, provision_device

from cabinet_runtime.identity import (
    IdentityError,
    IdentityStore,
    NotProvisionedError,
    ProvisioningError,
    provision,
    verify_ed25519,
)
from cabinet_runtime.protocol import auth_signing_payload


@pytest.fixture
async def peer() -> AsyncIterator[ProtocolPeer]:
    server = ProtocolPeer()
    await server.start()
    yield server
    await server.stop()


async def test_provision_creates_a_private_key_0600_and_pins_the_server_key(
    peer: ProtocolPeer, tmp_path: Path
) -> None:
    identity = provision_device(peer, tmp_path, "cab-7")
    store = IdentityStore(tmp_path)
    assert stat.S_IMODE(store.key_path.stat().st_mode) == 0o600
    assert identity.cabinet_id == "cab-7"
    assert identity.gateway_url == peer.ws_url
    # the server registered exactly our public key, and we pinned exactly its key
    assert verify_ed25519(
        peer.devices["cab-7"], identity.sign_challenge(b"n"), auth_signing_payload("cab-7", b"n")
    )
    signature = peer.server_key.sign(b"payload")
    assert verify_ed25519(identity.server_key, signature, b"payload")
    reloaded = store.load()
    assert reloaded.device_public_key == identity.device_public_key


async def test_a_used_or_unknown_code_is_refused_and_nothing_is_provisioned(
    peer: ProtocolPeer, tmp_path: Path
) -> None:
    store = IdentityStore(tmp_path)
    with pytest.raises(ProvisioningError, match="403"):
        provision(store, peer.http_url, "not-a-real-code")
    assert not store.is_provisioned()
    with pytest.raises(NotProvisionedError):
        store.load()
    # the key made for the failed attempt is reused by the next one
    key_before = store.key_path.read_bytes()
    provision(store, peer.http_url, peer.issue_code("cab-8"))
    assert store.key_path.read_bytes() == key_before


async def test_provisioning_twice_is_refused(peer: ProtocolPeer, tmp_path: Path) -> None:
    provision_device(peer, tmp_path, "cab-9")
    with pytest.raises(ProvisioningError, match="already provisioned"):
        provision(IdentityStore(tmp_path), peer.http_url, peer.issue_code("cab-9"))


def test_bad_code_and_unreachable_server_give_clear_errors(tmp_path: Path) -> None:
    store = IdentityStore(tmp_path)
    with pytest.raises(ProvisioningError, match="invalid provisioning code"):
        provision(store, "http://127.0.0.1:9", "ab")
    assert not store.key_path.exists()
    with pytest.raises(ProvisioningError, match="cannot reach"):
        provision(store, "http://127.0.0.1:9", "abcdef", timeout_s=1.0)
    assert not store.is_provisioned()


async def test_a_key_readable_by_others_is_refused(peer: ProtocolPeer, tmp_path: Path) -> None:
    provision_device(peer, tmp_path, "cab-10")
    store = IdentityStore(tmp_path)
    store.key_path.chmod(0o644)
    with pytest.raises(IdentityError, match="chmod 600"):
        store.load()

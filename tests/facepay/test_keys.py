from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from facepay.customers.data_keys import issue_data_key, open_data_key
from facepay.customers.models import Customer
from facepay.errors import KeyFileError
from facepay.keys.kek import KEK_FILE, FileKeyRing
from facepay.keys.rotation import rotate_kek, rotate_signing
from facepay.keys.secrets import PURPOSES, SECRETS_FILE
from facepay.keys.signing import (
    SIGNING_KEY_FILE,
    fingerprint,
    load_signing_key,
    retired_signing_keys,
)
from facepay.keys.store import ServerKeys, init_keys, load_keys
from facepay.settings import Settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_every_key_file_with_mode_0600(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    written = init_keys(keys_dir)
    assert {p.name for p in written} == {KEK_FILE, SIGNING_KEY_FILE, SECRETS_FILE}
    for path in written:
        assert _mode(path) == 0o600
    keys = load_keys(keys_dir)
    assert keys.kek.active_version == 1
    message = b"unlock cabinet 7"
    keys.signing_key.public_key().verify(keys.signing_key.sign(message), message)


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    init_keys(keys_dir)
    before = {p: p.read_bytes() for p in keys_dir.iterdir()}
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        init_keys(keys_dir)
    assert {p: p.read_bytes() for p in keys_dir.iterdir()} == before


def test_init_refuses_when_only_one_key_exists(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    init_keys(keys_dir)
    (keys_dir / KEK_FILE).unlink()
    with pytest.raises(KeyFileError, match=SIGNING_KEY_FILE):
        init_keys(keys_dir)
    assert not (keys_dir / KEK_FILE).exists(), "no half-written key set"


@pytest.mark.parametrize("name", [KEK_FILE, SIGNING_KEY_FILE, SECRETS_FILE])
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_loose_permissions_are_refused(tmp_path: Path, name: str, mode: int) -> None:
    init_keys(tmp_path)
    os.chmod(tmp_path / name, mode)
    with pytest.raises(KeyFileError, match=f"mode {mode:04o}.*chmod 600"):
        load_keys(tmp_path)


def test_missing_keys_say_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="missing; run `facepay keys init`"):
        load_keys(tmp_path)


def test_unreadable_key_is_a_clear_error(tmp_path: Path) -> None:
    init_keys(tmp_path)
    (tmp_path / SIGNING_KEY_FILE).unlink()
    (tmp_path / SIGNING_KEY_FILE).mkdir(mode=0o700)  # readable by nobody as a file, even root
    with pytest.raises(KeyFileError, match="cannot be read"):
        load_signing_key(tmp_path)


def test_malformed_key_files(tmp_path: Path) -> None:
    init_keys(tmp_path)
    (tmp_path / KEK_FILE).write_text('{"active": 3, "keys": {"1": "AAAA"}}')
    with pytest.raises(KeyFileError, match="not a valid key ring"):
        FileKeyRing.load(tmp_path)
    (tmp_path / SIGNING_KEY_FILE).write_text("not pem")
    with pytest.raises(KeyFileError, match="not a PEM private key"):
        load_signing_key(tmp_path)


def _customers_with_keys(
    keys: ServerKeys, sessions: sessionmaker[Session], count: int
) -> dict[str, bytes]:
    kek = keys.kek
    opened: dict[str, bytes] = {}
    with sessions.begin() as session:
        for i in range(count):
            customer = Customer(display_name=f"customer {i}")
            session.add(customer)
            session.flush()
            opened[customer.id] = issue_data_key(kek, customer)
    return opened


def test_rotation_rewraps_every_data_key_and_secret(
    settings: Settings, server_keys: ServerKeys, sessions: sessionmaker[Session]
) -> None:
    keys_dir = settings.keys_dir
    data_keys = _customers_with_keys(server_keys, sessions, 5)
    secrets = {purpose: server_keys.secrets.current(purpose) for purpose in PURPOSES}
    report = rotate_kek(keys_dir, sessions)
    assert (report.previous_version, report.active_version, report.rewrapped) == (1, 2, 5)
    assert report.rewrapped_secrets == len(PURPOSES)
    stored = json.loads((keys_dir / SECRETS_FILE).read_text())["secrets"]
    assert {v["kek_version"] for e in stored.values() for v in e["versions"].values()} == {2}
    reloaded = load_keys(keys_dir)
    assert {purpose: reloaded.secrets.current(purpose) for purpose in PURPOSES} == secrets
    ring = FileKeyRing.load(keys_dir)
    assert ring.active_version == 2
    assert _mode(keys_dir / KEK_FILE) == 0o600
    with sessions() as session:
        for customer in session.scalars(select(Customer)):
            assert customer.kek_version == 2
            assert open_data_key(ring, customer) == data_keys[customer.id]


def test_data_wrapped_before_rotation_stays_readable(
    settings: Settings, server_keys: ServerKeys, sessions: sessionmaker[Session]
) -> None:
    keys_dir = settings.keys_dir
    old_ring = FileKeyRing.load(keys_dir)
    data_key = b"k" * 32
    version, blob = old_ring.wrap(data_key, "backup-customer")  # e.g. a backup taken earlier
    rotate_kek(keys_dir, sessions)
    rotate_kek(keys_dir, sessions)
    ring = FileKeyRing.load(keys_dir)
    assert ring.active_version == 3
    assert ring.unwrap(blob, version, "backup-customer") == data_key


def test_rotation_is_one_transaction(
    settings: Settings, server_keys: ServerKeys, sessions: sessionmaker[Session]
) -> None:
    keys_dir = settings.keys_dir
    _customers_with_keys(server_keys, sessions, 3)
    with sessions.begin() as session:
        broken = session.scalars(select(Customer)).first()
        assert broken is not None
        broken.wrapped_data_key = b"\x00" * 60  # cannot be unwrapped
        broken_id = broken.id
    secrets_before = (keys_dir / SECRETS_FILE).read_bytes()
    with pytest.raises(KeyFileError, match=broken_id):
        rotate_kek(keys_dir, sessions)
    with sessions() as session:
        versions = {c.kek_version for c in session.scalars(select(Customer))}
    assert versions == {1}, "no data key may be re-wrapped when the rotation fails"
    assert (keys_dir / SECRETS_FILE).read_bytes() == secrets_before
    assert load_keys(keys_dir).secrets.open_all() == len(PURPOSES)


def test_kek_rotation_refuses_an_install_without_a_secret_store(
    settings: Settings, server_keys: ServerKeys, sessions: sessionmaker[Session]
) -> None:
    keys_dir = settings.keys_dir
    (keys_dir / SECRETS_FILE).unlink()
    ring_before = (keys_dir / KEK_FILE).read_bytes()
    with pytest.raises(KeyFileError, match="facepay keys migrate"):
        rotate_kek(keys_dir, sessions)
    assert (keys_dir / KEK_FILE).read_bytes() == ring_before


def test_signing_rotation_keeps_the_old_key_for_the_record(tmp_path: Path) -> None:
    init_keys(tmp_path)
    first = load_signing_key(tmp_path)
    secrets = {purpose: load_keys(tmp_path).secrets.current(purpose) for purpose in PURPOSES}
    one = rotate_signing(tmp_path)
    two = rotate_signing(tmp_path)
    assert [one.retired_as.name, two.retired_as.name] == [
        "server_ed25519.1.pem",
        "server_ed25519.2.pem",
    ]
    assert _mode(one.retired_as) == _mode(tmp_path / SIGNING_KEY_FILE) == 0o600
    assert fingerprint(load_signing_key(tmp_path, one.retired_as.name)) == fingerprint(first)
    assert one.previous_fingerprint == fingerprint(first) != one.fingerprint
    assert two.previous_fingerprint == one.fingerprint
    assert set(retired_signing_keys(tmp_path)) == {1, 2}
    current = load_keys(tmp_path)
    assert fingerprint(current.signing_key) == two.fingerprint
    assert {purpose: current.secrets.current(purpose) for purpose in PURPOSES} == secrets


def test_signing_rotation_refused_while_secrets_are_derived_from_it(tmp_path: Path) -> None:
    init_keys(tmp_path)
    (tmp_path / SECRETS_FILE).unlink()  # an install from before the secret store
    before = (tmp_path / SIGNING_KEY_FILE).read_bytes()
    with pytest.raises(KeyFileError, match="run `facepay keys migrate` before rotating"):
        rotate_signing(tmp_path)
    assert (tmp_path / SIGNING_KEY_FILE).read_bytes() == before
    assert retired_signing_keys(tmp_path) == {}


def test_wrapped_key_is_bound_to_its_customer(tmp_path: Path) -> None:
    init_keys(tmp_path)
    ring = FileKeyRing.load(tmp_path)
    version, blob = ring.wrap(b"d" * 32, "alice")
    with pytest.raises(KeyFileError):
        ring.unwrap(blob, version, "mallory")


def test_key_ring_file_holds_base64_keys(tmp_path: Path) -> None:
    init_keys(tmp_path)
    document = json.loads((tmp_path / KEK_FILE).read_text())
    assert document["active"] == 1 and set(document["keys"]) == {"1"}

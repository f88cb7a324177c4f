"""The secret store: versioned, KEK-wrapped values per purpose in keys/secrets.json."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from facepay.errors import KeyFileError
from facepay.keys.kek import FileKeyRing
from facepay.keys.secrets import (
    CUSTOMER_SESSION,
    PAYMENT_CREDENTIALS,
    PURPOSES,
    QR_TOKEN,
    SECRETS_FILE,
    SecretStore,
)
from facepay.keys.store import init_keys, load_keys


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    init_keys(tmp_path / "keys")
    return tmp_path / "keys"


def _document(keys_dir: Path) -> dict[str, dict[str, dict[str, object]]]:
    document: dict[str, dict[str, dict[str, object]]] = json.loads(
        (keys_dir / SECRETS_FILE).read_text()
    )
    return document


def fresh_store(keys_dir: Path) -> SecretStore:
    init_keys(keys_dir)
    return load_keys(keys_dir).secrets


def test_init_gives_every_purpose_a_random_value_of_its_own(keys_dir: Path) -> None:
    store = load_keys(keys_dir).secrets
    assert stat.S_IMODE((keys_dir / SECRETS_FILE).stat().st_mode) == 0o600
    values = {purpose: store.current(purpose) for purpose in PURPOSES}
    assert all(version == 1 and len(value) == 32 for version, value in values.values())
    assert len({value for _, value in values.values()}) == len(PURPOSES)
    other = fresh_store(keys_dir.parent / "other")
    assert other.current(QR_TOKEN)[1] != store.current(QR_TOKEN)[1], "fresh per install"


def test_file_holds_only_wrapped_values(keys_dir: Path) -> None:
    store = load_keys(keys_dir).secrets
    raw = (keys_dir / SECRETS_FILE).read_bytes()
    for purpose in PURPOSES:
        value = store.current(purpose)[1]
        assert value not in raw and value.hex().encode() not in raw
    entry = _document(keys_dir)["secrets"][PAYMENT_CREDENTIALS]
    assert entry["active"] == 1
    assert store.describe()[PAYMENT_CREDENTIALS] == {
        "active_version": 1,
        "versions": [1],
        "active_origin": "random",
    }


def test_rotation_adds_a_version_and_keeps_the_old_one(keys_dir: Path) -> None:
    store = load_keys(keys_dir).secrets
    _, first = store.current(PAYMENT_CREDENTIALS)
    session_key = store.current(CUSTOMER_SESSION)
    assert store.rotate(PAYMENT_CREDENTIALS) == 2
    version, second = store.current(PAYMENT_CREDENTIALS)
    assert version == 2 and second != first
    assert store.get(PAYMENT_CREDENTIALS, 1) == first
    assert store.current(CUSTOMER_SESSION) == session_key, "other purposes are untouched"
    reopened = load_keys(keys_dir).secrets
    assert reopened.current(PAYMENT_CREDENTIALS) == (2, second)
    assert reopened.get(PAYMENT_CREDENTIALS, 1) == first
    assert stat.S_IMODE((keys_dir / SECRETS_FILE).stat().st_mode) == 0o600


def test_a_running_store_sees_a_rotation_made_by_another_process(keys_dir: Path) -> None:
    running = load_keys(keys_dir).secrets
    running.current(PAYMENT_CREDENTIALS)
    elsewhere = load_keys(keys_dir).secrets  # e.g. `facepay keys rotate-credentials`
    elsewhere.rotate(PAYMENT_CREDENTIALS)
    assert running.get(PAYMENT_CREDENTIALS, 2) == elsewhere.get(PAYMENT_CREDENTIALS, 2)
    assert running.current(PAYMENT_CREDENTIALS)[0] == 2


def test_values_are_bound_to_their_purpose_and_version(keys_dir: Path) -> None:
    document = _document(keys_dir)
    secrets = document["secrets"]
    # move the QR-token value into the customer-session slot
    secrets[CUSTOMER_SESSION]["versions"] = secrets[QR_TOKEN]["versions"]
    (keys_dir / SECRETS_FILE).write_text(json.dumps(document))
    store = load_keys(keys_dir).secrets
    assert store.current(QR_TOKEN)[0] == 1
    with pytest.raises(KeyFileError, match=r"'customer-session' version 1 .* does not open"):
        store.current(CUSTOMER_SESSION)


def test_rewrap_moves_every_value_to_the_new_kek_version(keys_dir: Path) -> None:
    keys = load_keys(keys_dir)
    before = {purpose: keys.secrets.current(purpose)[1] for purpose in PURPOSES}
    keys.secrets.rotate(QR_TOKEN)
    rotated = FileKeyRing.load(keys_dir).with_new_version()
    rotated.save()
    assert keys.secrets.rewrap(rotated) == len(PURPOSES) + 1
    for entry in _document(keys_dir)["secrets"].values():
        versions = entry["versions"]
        assert isinstance(versions, dict)
        assert {v["kek_version"] for v in versions.values()} == {2}
    # the old KEK version alone no longer opens the file
    only_new = FileKeyRing(rotated.path, {2: rotated.versions[2]}, active_version=2)
    reopened = SecretStore.load(keys_dir, only_new)
    assert {purpose: reopened.get(purpose, 1) for purpose in PURPOSES} == before
    assert reopened.open_all() == len(PURPOSES) + 1


def test_missing_store_says_how_to_fix(keys_dir: Path) -> None:
    (keys_dir / SECRETS_FILE).unlink()
    with pytest.raises(KeyFileError, match="missing; run `facepay keys migrate`"):
        load_keys(keys_dir)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"format": 2, "secrets": {}}',
        '{"format": 1, "secrets": {"qr-token": {"active": 2, "versions": {}}}}',
        '{"format": 1, "secrets": {"qr-token": {"active": 1, "versions": {"1": '
        '{"kek_version": 1, "wrapped": "***", "origin": "random", "created_at": "x"}}}}}',
    ],
)
def test_malformed_store_is_refused(keys_dir: Path, content: str) -> None:
    (keys_dir / SECRETS_FILE).write_text(content)
    with pytest.raises(KeyFileError, match="not a valid secret store"):
        load_keys(keys_dir)


def test_loose_permissions_are_refused(keys_dir: Path) -> None:
    os.chmod(keys_dir / SECRETS_FILE, 0o644)
    with pytest.raises(KeyFileError, match="mode 0644"):
        load_keys(keys_dir)


def test_unknown_purpose_or_version_is_a_clear_error(keys_dir: Path) -> None:
    store = load_keys(keys_dir).secrets
    with pytest.raises(KeyFileError, match="no secret for 'telepathy'"):
        store.current("telepathy")
    with pytest.raises(KeyFileError, match="no version 7 of 'qr-token'"):
        store.get(QR_TOKEN, 7)
    with pytest.raises(LookupError):
        store.versions_of(PAYMENT_CREDENTIALS).version(7)


def test_create_never_overwrites(keys_dir: Path) -> None:
    before = (keys_dir / SECRETS_FILE).read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        SecretStore.create(keys_dir, FileKeyRing.load(keys_dir))
    assert (keys_dir / SECRETS_FILE).read_bytes() == before

"""Installs from before the secret store: their derived secrets move into it unchanged.

An old install is a key directory with the KEK ring and the signing key and no
secrets file; its stored card credentials were encrypted with a key derived from
the signing key. The old derivation is written out here on purpose (not imported),
so a change to the labels the migration uses fails these tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine

from facepay.cli import main
from facepay.db.engine import make_engine
from facepay.db.migrate import upgrade
from facepay.errors import KeyFileError
from facepay.health import check_keys
from facepay.keys.rotation import rotate_signing
from facepay.keys.secrets import (
    CUSTOMER_SESSION,
    PHONE_CODE,
    PURPOSES,
    QR_TOKEN,
    SECRETS_FILE,
)
from facepay.keys.signing import load_signing_key
from facepay.keys.store import init_keys, load_keys, load_server_keys
from facepay.payment_services import build_payment_services, sandbox_api_key
from facepay.settings import Settings
from facepay.setup import prepare_for_serving
from payments.db import create_payments_engine
from payments.methods import CredentialCipher, PaymentMethodStore
from payments.processor import PaymentMethod

CARD_KEY = b"cryptogram key of a linked card"


def old_derivation(keys_dir: Path, label: str) -> bytes:
    seed = load_signing_key(keys_dir).private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode()).derive(seed)


@pytest.fixture
def old_install(tmp_path: Path, database_url: str) -> Settings:
    """A migrated database and a key directory as every install had it so far."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    init_keys(settings.keys_dir)
    (settings.keys_dir / SECRETS_FILE).unlink()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    engine.dispose()
    return settings


@pytest.fixture
def payments_engine(old_install: Settings) -> Iterator[Engine]:
    url = old_install.effective_database_url.render_as_string(hide_password=False)
    engine = create_payments_engine(url)
    yield engine
    engine.dispose()


def run(settings: Settings, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setenv("FACEPAY_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("FACEPAY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("FACEPAY_MODE", settings.mode)
    return main(list(argv))


def test_migration_keeps_stored_credentials_sessions_and_tokens(
    old_install: Settings,
    payments_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys_dir = old_install.keys_dir
    old_key = old_derivation(keys_dir, "facepay/payment-credentials/v1")
    old_store = PaymentMethodStore(payments_engine, CredentialCipher(old_key))
    card = PaymentMethod("sandbox", "4895370000000001", "visa", "4242", 12, 2031, CARD_KEY)
    pm_id = old_store.save("customer-1", card)

    assert run(old_install, monkeypatch, "keys", "migrate") == 0
    assert "version 1 of each secret is the value derived" in capsys.readouterr().out

    keys = load_keys(keys_dir)
    services = build_payment_services(old_install, keys)
    try:
        assert services.methods.get(pm_id) == ("customer-1", card)
    finally:
        services.close()
    assert (
        sandbox_api_key(old_install, keys)
        == old_derivation(keys_dir, "facepay/sandbox-requestor/v1").hex()
    )
    for purpose, label in [
        (CUSTOMER_SESSION, "facepay/customer-session/v1"),
        (QR_TOKEN, "facepay/qr-token/v1"),
        (PHONE_CODE, "facepay/phone-code/v1"),
    ]:
        assert keys.secrets.current(purpose) == (1, old_derivation(keys_dir, label))
    assert {d["active_origin"] for d in keys.secrets.describe().values()} == {
        "derived-from-signing-key"
    }

    # From now on the signing key is free to rotate: nothing depends on it any more.
    migrated = {purpose: keys.secrets.current(purpose) for purpose in PURPOSES}
    rotate_signing(keys_dir)
    after = load_keys(keys_dir)
    assert {purpose: after.secrets.current(purpose) for purpose in PURPOSES} == migrated
    services = build_payment_services(old_install, after)
    try:
        assert services.methods.get(pm_id) == ("customer-1", card)
    finally:
        services.close()


def test_migrating_twice_changes_nothing(
    old_install: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(old_install, monkeypatch, "keys", "migrate") == 0
    written = (old_install.keys_dir / SECRETS_FILE).read_bytes()
    assert run(old_install, monkeypatch, "keys", "migrate") == 0
    assert "nothing to migrate" in capsys.readouterr().out
    assert (old_install.keys_dir / SECRETS_FILE).read_bytes() == written


def test_production_never_migrates_by_itself(old_install: Settings) -> None:
    production = Settings(
        data_dir=old_install.data_dir, database_url=old_install.database_url, mode="production"
    )
    with pytest.raises(KeyFileError, match="run `facepay keys migrate`"):
        load_server_keys(production)
    assert not (production.keys_dir / SECRETS_FILE).exists()
    check = check_keys(production)
    assert not check.ok and "facepay keys migrate" in check.detail


def test_development_migrates_on_first_load(old_install: Settings) -> None:
    keys = load_server_keys(old_install)
    assert (old_install.keys_dir / SECRETS_FILE).exists()
    expected = old_derivation(old_install.keys_dir, "facepay/qr-token/v1")
    assert keys.secrets.current(QR_TOKEN) == (1, expected)
    assert check_keys(old_install).ok


def test_migrate_without_keys_says_to_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = Settings(data_dir=tmp_path / "nothing")
    assert run(empty, monkeypatch, "keys", "migrate") == 2
    assert "missing; run `facepay keys init`" in capsys.readouterr().err
    assert not (empty.keys_dir / SECRETS_FILE).exists()


def test_serve_in_development_migrates_before_its_checks(old_install: Settings) -> None:
    said: list[str] = []
    prepare_for_serving(old_install, said.append)
    assert any("moved the secrets derived from the signing key" in line for line in said)
    expected = old_derivation(old_install.keys_dir, "facepay/customer-session/v1")
    assert load_keys(old_install.keys_dir).secrets.current(CUSTOMER_SESSION) == (1, expected)

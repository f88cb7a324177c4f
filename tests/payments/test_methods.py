from __future__ import annotations

import io
import time

import pytest
from conftest import PaymentsEnv
from sandbox_network_server import NOTIFY_SECRET
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from payments.errors import CredentialKeyError, InvalidRequestError, NotFoundError
from payments.ledger.cli import verify_command
from payments.methods import (
    CredentialCipher,
    FixedCredentialKeys,
    MethodStatus,
    PaymentMethodStore,
    StoredPaymentMethod,
)
from payments.network_protocol import SIGNATURE_HEADER, sign
from payments.processor import PaymentMethod
from payments.processors.sandbox import apply_token_notification

KEY = bytes(range(32))


def method(token: str = "4895370000000000", credential: bytes = b"k" * 32) -> PaymentMethod:  # noqa: S107
    return PaymentMethod("sandbox", token, "visa", "4242", 12, 2031, credential)


def test_credential_encrypted_at_rest_and_bound_to_its_row(sqlite_engine: Engine) -> None:
    store = PaymentMethodStore(sqlite_engine, CredentialCipher(KEY))
    first = store.save("alice", method("4895370000000001"))
    second = store.save("bob", method("4895370000000019", b"z" * 32))
    with Session(sqlite_engine) as s:
        row = s.get(StoredPaymentMethod, first)
        assert row is not None and row.credential is not None
        assert b"k" * 8 not in row.credential
    assert store.get(first) == ("alice", method("4895370000000001"))
    # a ciphertext moved to another row does not decrypt
    with sqlite_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE payments_payment_methods SET credential = "
                "(SELECT credential FROM payments_payment_methods WHERE id = :a) WHERE id = :b"
            ),
            {"a": first, "b": second},
        )
    with pytest.raises(CredentialKeyError, match=f"credential of {second} does not decrypt"):
        store.get(second)
    with pytest.raises(InvalidRequestError):
        CredentialCipher(b"short")


OLD_KEY, NEW_KEY = bytes(range(32)), bytes(range(32, 64))


def _stored_versions(engine: Engine) -> dict[str, int | None]:
    with Session(engine) as s:
        rows = s.query(StoredPaymentMethod).all()
        return {row.id: row.credential_key_version for row in rows}


def test_each_credential_records_the_key_version_that_encrypted_it(sqlite_engine: Engine) -> None:
    old = PaymentMethodStore(sqlite_engine, CredentialCipher(FixedCredentialKeys({1: OLD_KEY}, 1)))
    first = old.save("alice", method("4895370000000001", b"a" * 32))
    both = FixedCredentialKeys({1: OLD_KEY, 2: NEW_KEY}, active=2)
    new = PaymentMethodStore(sqlite_engine, CredentialCipher(both))
    second = new.save("bob", method("4895370000000019", b"b" * 32))
    assert _stored_versions(sqlite_engine) == {first: 1, second: 2}
    assert new.get(first)[1].credential == b"a" * 32, "older versions still decrypt"
    assert new.get(second)[1].credential == b"b" * 32
    with pytest.raises(CredentialKeyError, match="key version 2 is not available"):
        old.get(second)
    with pytest.raises(InvalidRequestError, match="version 3 is not given"):
        FixedCredentialKeys({1: OLD_KEY}, active=3)


def test_reencrypting_moves_every_credential_to_the_active_version(sqlite_engine: Engine) -> None:
    old = PaymentMethodStore(sqlite_engine, CredentialCipher(OLD_KEY))
    ids = [old.save(f"c{i}", method(f"48953700000000{i:02d}", bytes([i]) * 32)) for i in range(4)]
    old.save("d", method("4895370000009999", b""))  # no credential: nothing to re-encrypt
    old.remove(ids[3])
    new = PaymentMethodStore(
        sqlite_engine, CredentialCipher(FixedCredentialKeys({1: OLD_KEY, 2: NEW_KEY}, active=2))
    )
    assert new.reencrypt_credentials() == 3
    assert new.reencrypt_credentials() == 0, "nothing left under the old version"
    versions = _stored_versions(sqlite_engine)
    assert [versions[i] for i in ids[:3]] == [2, 2, 2]
    only_new = PaymentMethodStore(
        sqlite_engine, CredentialCipher(FixedCredentialKeys({2: NEW_KEY}, 2))
    )
    assert [only_new.get(i)[1].credential for i in ids[:3]] == [bytes([i]) * 32 for i in range(3)]


def test_reencrypting_is_one_transaction(sqlite_engine: Engine) -> None:
    old = PaymentMethodStore(sqlite_engine, CredentialCipher(OLD_KEY))
    ids = [old.save(f"c{i}", method(f"48953700000000{i:02d}")) for i in range(3)]
    with sqlite_engine.begin() as conn:  # one credential no key opens
        conn.execute(
            text("UPDATE payments_payment_methods SET credential = :junk WHERE id = :id"),
            {"junk": b"\x00" * 60, "id": ids[1]},
        )
    new = PaymentMethodStore(
        sqlite_engine, CredentialCipher(FixedCredentialKeys({1: OLD_KEY, 2: NEW_KEY}, active=2))
    )
    with pytest.raises(CredentialKeyError, match=ids[1]):
        new.reencrypt_credentials()
    assert set(_stored_versions(sqlite_engine).values()) == {1}, "none re-encrypted"
    assert old.get(ids[0])[1].credential == b"k" * 32


def test_same_token_links_once_and_only_to_its_customer(sqlite_engine: Engine) -> None:
    store = PaymentMethodStore(sqlite_engine, CredentialCipher(KEY))
    pm = store.save("alice", method())
    assert store.save("alice", method()) == pm
    with pytest.raises(InvalidRequestError):
        store.save("mallory", method())
    store.remove(pm)
    with pytest.raises(NotFoundError):
        store.get(pm)


def test_token_notifications_update_the_method(sqlite_engine: Engine) -> None:
    store = PaymentMethodStore(sqlite_engine, CredentialCipher(KEY))
    pm = store.save("alice", method())

    def notify(status: str, secret: str = NOTIFY_SECRET) -> str:
        body = (
            f'{{"id":"evt_1","type":"token.x","token":"4895370000000000",'
            f'"status":"{status}","created":1}}'
        ).encode()
        return apply_token_notification(
            store, NOTIFY_SECRET, sign(secret, body, int(time.time())), body
        )

    assert notify("suspended") == pm
    assert store.status(pm) is MethodStatus.SUSPENDED
    with pytest.raises(ValueError, match="bad signature"):
        notify("active", secret="forged")
    assert store.status(pm) is MethodStatus.SUSPENDED
    notify("active")
    assert store.status(pm) is MethodStatus.ACTIVE
    notify("deleted")
    assert store.status(pm) is MethodStatus.REMOVED
    notify("active")  # deletion is final
    assert store.status(pm) is MethodStatus.REMOVED


def test_network_suspension_reaches_the_payment_method(payments_env: PaymentsEnv) -> None:
    env = payments_env
    pm = env.link()
    _, linked = env.methods.get(pm)
    start = len(env.sandbox.receiver.received)
    env.sandbox.admin("POST", f"/tsp/tokens/{linked.token_ref}/suspend")
    env.sandbox.receiver.wait_for(start + 1)
    headers, body = env.sandbox.receiver.received[start]
    assert (
        apply_token_notification(
            env.methods, NOTIFY_SECRET, headers[SIGNATURE_HEADER.lower()], body
        )
        == pm
    )
    assert env.methods.status(pm) is MethodStatus.SUSPENDED


def test_ledger_verify_command_exit_codes(engine: Engine) -> None:
    from payments.db import write_transaction
    from payments.ledger import AccountKind, Ledger
    from payments.money import Money

    with write_transaction(engine) as s:
        ledger = Ledger(s)
        a = ledger.open_account(AccountKind.CUSTOMER_PAYMENT_TOKEN, "c", "KRW")
        b = ledger.open_account(AccountKind.PROCESSOR_CLEARING, "p", "KRW")
        ledger.transfer("t", a, b, Money(1000, "KRW"))
    url = engine.url.render_as_string(hide_password=False)
    out = io.StringIO()
    assert verify_command(url, out) == 0
    assert "ledger OK" in out.getvalue()
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE payments_ledger_accounts SET credits_posted = 999 WHERE id = :b"), {"b": b}
        )
    out = io.StringIO()
    assert verify_command(url, out) == 1
    assert "IMBALANCED" in out.getvalue() and "ledger INCONSISTENT" in out.getvalue()

from __future__ import annotations

import io
import time

import pytest
from conftest import PaymentsEnv
from cryptography.exceptions import InvalidTag
from sandbox_network_server import NOTIFY_SECRET
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from payments.errors import InvalidRequestError, NotFoundError
from payments.ledger.cli import verify_command
from payments.methods import CredentialCipher, MethodStatus, PaymentMethodStore, StoredPaymentMethod
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
    with pytest.raises(InvalidTag):
        store.get(second)
    with pytest.raises(InvalidRequestError):
        CredentialCipher(b"short")


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

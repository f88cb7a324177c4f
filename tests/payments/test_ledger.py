from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from payments.db import utcnow, write_transaction
from payments.errors import InvalidRequestError, NotFoundError, TransferRejectedError
from payments.ledger import AccountFlag, AccountKind, Ledger, verify_ledger
from payments.money import Money


def _accounts(engine: Engine, currency: str = "USD") -> tuple[str, str]:
    with write_transaction(engine) as s:
        ledger = Ledger(s)
        card = ledger.open_account(AccountKind.CUSTOMER_PAYMENT_TOKEN, "cust-1", currency)
        clearing = ledger.open_account(AccountKind.PROCESSOR_CLEARING, "sandbox", currency)
    return card, clearing


def test_single_transfer_balances_and_is_idempotent(engine: Engine) -> None:
    card, clearing = _accounts(engine)
    with write_transaction(engine) as s:
        Ledger(s).transfer("t1", card, clearing, Money(500, "USD"), code="charge")
    with write_transaction(engine) as s:
        # same id + same fields: the stored transfer, not a second one
        Ledger(s).transfer("t1", card, clearing, Money(500, "USD"), code="charge")
        with pytest.raises(TransferRejectedError):
            Ledger(s).transfer("t1", card, clearing, Money(501, "USD"))
    with write_transaction(engine) as s:
        assert Ledger(s).balance(card).debits_posted == 500
        assert Ledger(s).balance(clearing).credits_posted == 500
    report = verify_ledger(engine)
    assert report.ok, report.problems
    assert report.totals["USD"].debits_posted == 500
    assert report.transfers_checked == 1


def test_bad_input_changes_nothing(engine: Engine) -> None:
    card, clearing = _accounts(engine)
    with write_transaction(engine) as s:
        ledger = Ledger(s)
        with pytest.raises(InvalidRequestError):
            ledger.transfer("t0", card, clearing, Money(0, "USD"))
        with pytest.raises(InvalidRequestError):
            ledger.transfer("t0", card, card, Money(5, "USD"))
        with pytest.raises(TransferRejectedError):
            ledger.transfer("t0", card, clearing, Money(5, "EUR"))
        with pytest.raises(NotFoundError):
            ledger.transfer("t0", card, "nope", Money(5, "USD"))
    assert verify_ledger(engine).transfers_checked == 0


def test_pending_post_partial_releases_remainder(engine: Engine) -> None:
    card, clearing = _accounts(engine, "KRW")
    with write_transaction(engine) as s:
        ledger = Ledger(s)
        ledger.pend("hold", card, clearing, Money(10_000, "KRW"))
        assert ledger.balance(card).debits_pending == 10_000
        ledger.post_pending("cap", "hold", Money(6_500, "KRW"))
        bal = ledger.balance(card)
        assert (bal.debits_pending, bal.debits_posted) == (0, 6_500)
        with pytest.raises(TransferRejectedError):
            ledger.void_pending("void", "hold")  # resolved at most once
    assert verify_ledger(engine).ok


def test_post_more_than_pending_rejected_and_void(engine: Engine) -> None:
    card, clearing = _accounts(engine)
    with write_transaction(engine) as s:
        ledger = Ledger(s)
        ledger.pend("hold", card, clearing, Money(100, "USD"))
        with pytest.raises(TransferRejectedError):
            ledger.post_pending("cap", "hold", Money(101, "USD"))
        ledger.void_pending("void", "hold")
        assert ledger.balance(card) == ledger.balance(card).__class__(0, 0, 0, 0)
        with pytest.raises(TransferRejectedError):
            ledger.post_pending("cap2", "hold")
    assert verify_ledger(engine).ok


def test_pending_timeout_expires(engine: Engine) -> None:
    card, clearing = _accounts(engine)
    with write_transaction(engine) as s:
        Ledger(s).pend("hold", card, clearing, Money(100, "USD"), timeout=timedelta(seconds=30))
        Ledger(s).pend("other", card, clearing, Money(7, "USD"))
    later = utcnow() + timedelta(seconds=31)
    with write_transaction(engine) as s, pytest.raises(TransferRejectedError):
        Ledger(s).post_pending("cap", "hold", now=later)
    with write_transaction(engine) as s:
        assert Ledger(s).expire_pending(now=later) == ["hold"]
        assert Ledger(s).expire_pending(now=later) == []
        assert Ledger(s).balance(card).debits_pending == 7
    assert verify_ledger(engine).ok


def test_account_flags_enforced(engine: Engine) -> None:
    with write_transaction(engine) as s:
        ledger = Ledger(s)
        prepaid = ledger.open_account(
            AccountKind.CUSTOMER_PAYMENT_TOKEN,
            "prepaid",
            "USD",
            AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS,
        )
        clearing = ledger.open_account(AccountKind.PROCESSOR_CLEARING, "x", "USD")
    with write_transaction(engine) as s:
        Ledger(s).transfer("fund", clearing, prepaid, Money(100, "USD"))
    with write_transaction(engine) as s:
        with pytest.raises(TransferRejectedError):
            Ledger(s).pend("p", prepaid, clearing, Money(101, "USD"))
        Ledger(s).pend("p2", prepaid, clearing, Money(100, "USD"))
        assert Ledger(s).balance(prepaid).debits_pending == 100
    assert verify_ledger(engine).ok


def test_verify_detects_tampering(engine: Engine) -> None:
    card, clearing = _accounts(engine)
    with write_transaction(engine) as s:
        Ledger(s).transfer("t1", card, clearing, Money(500, "USD"))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE payments_ledger_accounts SET debits_posted = 400 WHERE id = :i"),
            {"i": card},
        )
    report = verify_ledger(engine)
    assert not report.ok
    assert not report.totals["USD"].balanced
    assert any(p.startswith("USD:") for p in report.problems)
    assert any(card in p for p in report.problems)


def test_concurrent_writers_keep_the_ledger_balanced(engine: Engine) -> None:
    card, clearing = _accounts(engine)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                with write_transaction(engine) as s:
                    ledger = Ledger(s)
                    ledger.pend(f"h-{n}-{i}", card, clearing, Money(10, "USD"))
                with write_transaction(engine) as s:
                    Ledger(s).post_pending(f"c-{n}-{i}", f"h-{n}-{i}", Money(3, "USD"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with write_transaction(engine) as s:
        bal = Ledger(s).balance(card)
    assert (bal.debits_pending, bal.debits_posted) == (0, 4 * 10 * 3)
    report = verify_ledger(engine)
    assert report.ok, report.problems
    assert report.transfers_checked == 80


def test_concurrent_resolution_happens_once(engine: Engine) -> None:
    card, clearing = _accounts(engine)
    with write_transaction(engine) as s:
        Ledger(s).pend("hold", card, clearing, Money(100, "USD"))
    results: list[str] = []
    barrier = threading.Barrier(4)

    def resolver(n: int) -> None:
        barrier.wait()
        try:
            with write_transaction(engine) as s:
                if n % 2:
                    Ledger(s).post_pending(f"post-{n}", "hold", Money(40, "USD"))
                else:
                    Ledger(s).void_pending(f"void-{n}", "hold")
            results.append("ok")
        except TransferRejectedError:
            results.append("rejected")

    threads = [threading.Thread(target=resolver, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "rejected", "rejected", "rejected"]
    assert verify_ledger(engine).ok


def test_database_refuses_to_edit_or_delete_entries(engine: Engine) -> None:
    from sqlalchemy.exc import DBAPIError

    card, clearing = _accounts(engine)
    with write_transaction(engine) as s:
        Ledger(s).transfer("t1", card, clearing, Money(500, "USD"))
    for statement in (
        "UPDATE payments_ledger_transfers SET amount = 1 WHERE id = 't1'",
        "DELETE FROM payments_ledger_transfers WHERE id = 't1'",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert verify_ledger(engine).ok

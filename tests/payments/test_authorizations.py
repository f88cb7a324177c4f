"""The holds service through the sandbox processor, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from conftest import PaymentsEnv
from sqlalchemy.orm import Session

from payments.authorizations.models import AuthStatus
from payments.authorizations.reconcile import Reconciler
from payments.debt import DebtService
from payments.errors import (
    IdempotencyConflictError,
    InvalidRequestError,
    OpenDebtError,
    OperationInProgressError,
    ProcessorUnavailableError,
)
from payments.ledger import AccountKind, Ledger, account_id, verify_ledger
from payments.money import Money


def key() -> str:
    return uuid.uuid4().hex


def balances(env: PaymentsEnv, kind: AccountKind, owner: str, currency: str) -> tuple[int, ...]:
    with Session(env.engine) as session:
        b = Ledger(session).balance(account_id(kind, owner, currency))
        return (b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted)


def network_auth(env: PaymentsEnv, ref: str | None) -> tuple[str, int, int, int]:
    assert ref is not None
    a = env.sandbox.network.authorizations[ref]
    return a.status, a.authorized, a.captured, a.refunded


def hold(env: PaymentsEnv, pm: str, amount: int, currency: str = "USD", k: str | None = None):  # type: ignore[no-untyped-def]
    return env.service.hold(
        payment_method_id=pm,
        amount=Money(amount, currency),
        merchant_ref="merchant-1",
        idempotency_key=k or key(),
    )


def test_hold_partial_capture_releases_remainder(payments_env: PaymentsEnv) -> None:
    env = payments_env
    pm = env.link()
    held = hold(env, pm, 10_000)
    assert held.approved and held.authorization.status == AuthStatus.HELD
    assert balances(env, AccountKind.CUSTOMER_PAYMENT_TOKEN, pm, "USD") == (10_000, 0, 0, 0)
    auth_id = held.authorization.id
    done = env.service.capture(
        authorization_id=auth_id, amount=Money(6_000, "USD"), idempotency_key=key()
    )
    assert done.approved and done.authorization.captured == 6_000
    assert balances(env, AccountKind.CUSTOMER_PAYMENT_TOKEN, pm, "USD") == (0, 6_000, 0, 0)
    # 2.5 % platform fee, the rest payable to the merchant
    assert balances(env, AccountKind.MERCHANT_PAYABLE, "merchant-1", "USD")[3] >= 5_850
    assert network_auth(env, done.authorization.processor_ref) == ("captured", 10_000, 6_000, 0)
    report = verify_ledger(env.engine)
    assert report.ok, report.problems


def test_hold_then_void(payments_env: PaymentsEnv) -> None:
    env = payments_env
    pm = env.link()
    held = hold(env, pm, 2_500, "KRW")
    voided = env.service.void(authorization_id=held.authorization.id, idempotency_key=key())
    assert voided.approved and voided.authorization.status == AuthStatus.VOIDED
    assert balances(env, AccountKind.CUSTOMER_PAYMENT_TOKEN, pm, "KRW") == (0, 0, 0, 0)
    assert network_auth(env, voided.authorization.processor_ref)[0] == "voided"
    with pytest.raises(InvalidRequestError):
        env.service.capture(
            authorization_id=held.authorization.id, amount=Money(1, "KRW"), idempotency_key=key()
        )
    assert verify_ledger(env.engine).ok


def test_increment_then_capture_above_the_first_hold(payments_env: PaymentsEnv) -> None:
    env = payments_env
    pm = env.link()
    held = hold(env, pm, 1_000)
    auth_id = held.authorization.id
    with pytest.raises(InvalidRequestError, match="increment first"):
        env.service.capture(
            authorization_id=auth_id, amount=Money(1_400, "USD"), idempotency_key=key()
        )
    more = env.service.increment(
        authorization_id=auth_id, additional=Money(500, "USD"), idempotency_key=key()
    )
    assert more.approved and more.authorization.held == 1_500
    assert balances(env, AccountKind.CUSTOMER_PAYMENT_TOKEN, pm, "USD")[0] == 1_500
    done = env.service.capture(
        authorization_id=auth_id, amount=Money(1_400, "USD"), idempotency_key=key()
    )
    assert done.approved
    assert balances(env, AccountKind.CUSTOMER_PAYMENT_TOKEN, pm, "USD") == (0, 1_400, 0, 0)
    assert verify_ledger(env.engine).ok


def test_refund_partial_full_and_beyond(payments_env: PaymentsEnv) -> None:
    env = payments_env
    pm = env.link()
    held = hold(env, pm, 1_000)
    auth_id = held.authorization.id
    with pytest.raises(InvalidRequestError):
        env.service.refund(authorization_id=auth_id, amount=Money(1, "USD"), idempotency_key=key())
    env.service.capture(authorization_id=auth_id, amount=Money(800, "USD"), idempotency_key=key())
    part = env.service.refund(
        authorization_id=auth_id, amount=Money(300, "USD"), idempotency_key=key()
    )
    assert part.approved and part.authorization.refunded == 300
    with pytest.raises(InvalidRequestError, match="exceeds"):
        env.service.refund(
            authorization_id=auth_id, amount=Money(501, "USD"), idempotency_key=key()
        )
    rest = env.service.refund(
        authorization_id=auth_id, amount=Money(500, "USD"), idempotency_key=key()
    )
    assert rest.authorization.refunded == 800
    assert balances(env, AccountKind.CUSTOMER_PAYMENT_TOKEN, pm, "USD") == (0, 800, 0, 800)
    assert network_auth(env, rest.authorization.processor_ref) == ("captured", 1_000, 800, 800)
    assert verify_ledger(env.engine).ok


@pytest.mark.parametrize(
    ("pan", "code"),
    [
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000002", "do_not_honor"),
        ("4000000000000069", "expired_card"),
        ("4000000000009987", "lost_or_stolen"),
    ],
)
def test_declined_hold_moves_nothing(payments_env: PaymentsEnv, pan: str, code: str) -> None:
    env = payments_env
    pm = env.link(pan)
    result = hold(env, pm, 100)
    assert not result.approved and result.decline_code == code
    assert result.authorization.status == AuthStatus.DECLINED
    assert verify_ledger(env.engine).transfers_checked == 0


def test_timeout_resolved_by_query_and_unavailable_fails_cleanly(
    payments_env: PaymentsEnv,
) -> None:
    env = payments_env
    late = hold(env, env.link("4000000000000119"), 700)
    assert late.approved and late.authorization.status == AuthStatus.HELD
    with pytest.raises(ProcessorUnavailableError):
        hold(env, env.link("4000000000000127"), 700)
    report = verify_ledger(env.engine)
    assert report.ok and report.totals["USD"].debits_pending == 700


def test_idempotent_hold_and_conflict(payments_env: PaymentsEnv) -> None:
    env = payments_env
    pm = env.link()
    k = key()
    first, again = hold(env, pm, 900, k=k), hold(env, pm, 900, k=k)
    assert first == again
    assert len(env.sandbox.network.authorizations) >= 1
    with pytest.raises(IdempotencyConflictError):
        hold(env, pm, 901, k=k)
    assert balances(env, AccountKind.CUSTOMER_PAYMENT_TOKEN, pm, "USD") == (900, 0, 0, 0)


def test_concurrent_captures_capture_once(payments_env: PaymentsEnv) -> None:
    env = payments_env
    held = hold(env, env.link(), 1_000)
    auth_id = held.authorization.id
    k = key()
    outcomes: list[object] = []
    barrier = threading.Barrier(4)

    def capture(same_key: bool) -> None:
        barrier.wait()
        try:
            outcomes.append(
                env.service.capture(
                    authorization_id=auth_id,
                    amount=Money(700, "USD"),
                    idempotency_key=k if same_key else key(),
                )
            )
        except (OperationInProgressError, InvalidRequestError) as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=capture, args=(i < 2,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ref = env.service.get(auth_id).processor_ref
    assert network_auth(env, ref) == ("captured", 1_000, 700, 0)
    assert env.service.get(auth_id).captured == 700
    assert verify_ledger(env.engine).ok
    assert sum(1 for o in outcomes if not isinstance(o, str)) >= 1


def _expire_at_network(env: PaymentsEnv) -> None:
    env.sandbox.network.expire_holds(now=time.time() + 10 * 365 * 86400)


def test_failed_capture_becomes_debt_that_blocks_until_repaid(payments_env: PaymentsEnv) -> None:
    env = payments_env
    customer = f"cust-{key()[:8]}"
    pm = env.link(customer_ref=customer)
    held = hold(env, pm, 1_200)
    _expire_at_network(env)  # the network dropped the hold before the door closed
    failed = env.service.capture(
        authorization_id=held.authorization.id,
        amount=Money(1_100, "USD"),
        idempotency_key=key(),
    )
    assert not failed.approved and failed.debt_id
    assert failed.authorization.status == AuthStatus.CAPTURE_FAILED
    assert balances(env, AccountKind.CUSTOMER_DEBT, customer, "USD") == (0, 1_100, 0, 0)
    with pytest.raises(OpenDebtError):
        hold(env, pm, 100)
    debts = DebtService(env.engine, env.service)
    retried = debts.retry(
        failed.debt_id, payment_method_id=pm, merchant_ref="merchant-1", idempotency_key=key()
    )
    assert retried.approved
    assert debts.get(failed.debt_id).status == "repaid"
    assert balances(env, AccountKind.CUSTOMER_DEBT, customer, "USD") == (0, 1_100, 0, 1_100)
    assert hold(env, pm, 100).approved
    assert verify_ledger(env.engine).ok


def test_staff_settle_unblocks_and_declined_retry_keeps_debt(payments_env: PaymentsEnv) -> None:
    env = payments_env
    customer = f"cust-{key()[:8]}"
    pm = env.link(customer_ref=customer)
    broke = env.link("4000000000000002", customer_ref=customer)
    held = hold(env, pm, 500)
    _expire_at_network(env)
    failed = env.service.capture(
        authorization_id=held.authorization.id, amount=Money(500, "USD"), idempotency_key=key()
    )
    assert failed.debt_id
    debts = DebtService(env.engine, env.service)
    retry = debts.retry(
        failed.debt_id, payment_method_id=broke, merchant_ref="merchant-1", idempotency_key=key()
    )
    assert not retry.approved and retry.decline_code == "do_not_honor"
    assert [d.id for d in debts.open_debts(customer)] == [failed.debt_id]
    with pytest.raises(InvalidRequestError):
        debts.settle_by_staff(failed.debt_id, staff_ref="", note="")
    settled = debts.settle_by_staff(failed.debt_id, staff_ref="ops-7", note="paid in cash")
    assert settled.status == "written_off"
    assert hold(env, pm, 100).approved
    assert verify_ledger(env.engine).ok


def test_expired_holds_are_voided_by_reconciliation(payments_env: PaymentsEnv) -> None:
    from datetime import timedelta

    from payments.db import utcnow

    env = payments_env
    pm = env.link()
    held = hold(env, pm, 300)
    report = Reconciler(env.service, grace=timedelta(0)).run_once(now=utcnow() + timedelta(days=8))
    assert held.authorization.id in report.expired
    assert env.service.get(held.authorization.id).status == AuthStatus.VOIDED
    assert network_auth(env, held.authorization.processor_ref)[0] == "voided"
    assert balances(env, AccountKind.CUSTOMER_PAYMENT_TOKEN, pm, "USD") == (0, 0, 0, 0)


def test_concurrent_holds_with_one_key_authorize_once(payments_env: PaymentsEnv) -> None:
    env = payments_env
    pm = env.link()
    k = key()
    before = len(env.sandbox.network.authorizations)
    results: list[object] = []
    barrier = threading.Barrier(4)

    def caller() -> None:
        barrier.wait()
        results.append(hold(env, pm, 1_300, k=k))

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r == results[0] for r in results)
    assert len(env.sandbox.network.authorizations) == before + 1
    assert balances(env, AccountKind.CUSTOMER_PAYMENT_TOKEN, pm, "USD") == (1_300, 0, 0, 0)


def test_retry_charge_for_a_debt_settled_meanwhile_charges_nothing(
    payments_env: PaymentsEnv,
) -> None:
    from payments.errors import DebtAlreadySettledError

    env = payments_env
    customer = f"cust-{key()[:8]}"
    pm = env.link(customer_ref=customer)
    held = hold(env, pm, 800)
    _expire_at_network(env)
    failed = env.service.capture(
        authorization_id=held.authorization.id, amount=Money(800, "USD"), idempotency_key=key()
    )
    assert failed.debt_id
    retry_hold = env.service.hold(
        payment_method_id=pm,
        amount=Money(800, "USD"),
        merchant_ref="merchant-1",
        idempotency_key=key(),
        for_debt=failed.debt_id,
    )
    assert retry_hold.approved
    DebtService(env.engine, env.service).settle_by_staff(
        failed.debt_id, staff_ref="ops-1", note="forgiven"
    )
    with pytest.raises(DebtAlreadySettledError):
        env.service.capture(
            authorization_id=retry_hold.authorization.id,
            amount=Money(800, "USD"),
            idempotency_key=key(),
            goods_taken=False,
        )
    env.service.void(authorization_id=retry_hold.authorization.id, idempotency_key=key())
    assert network_auth(env, retry_hold.authorization.processor_ref)[0] == "voided"
    assert balances(env, AccountKind.CUSTOMER_DEBT, customer, "USD") == (0, 800, 0, 800)
    assert verify_ledger(env.engine).ok

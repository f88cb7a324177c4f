"""Property tests over random operation sequences (hypothesis)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from conftest import PaymentsEnv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from test_crash_recovery import STATUS_AT_NETWORK, SimulatedCrash, crashing

from card_network.cards import luhn_check_digit
from payments.authorizations.models import Authorization, AuthStatus
from payments.authorizations.reconcile import Reconciler
from payments.authorizations.service import CrashPoint
from payments.db import write_transaction
from payments.errors import InvalidRequestError, TransferRejectedError
from payments.ledger import AccountKind, Ledger, LedgerTransfer, account_id, verify_ledger
from payments.money import Money
from payments.processor import OperationKind

FIXTURE_REUSE = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

# --- ledger: pend / post (partial) / void / single, with resolution attempts repeated ---

ledger_ops = st.lists(
    st.one_of(
        st.tuples(st.just("pend"), st.integers(0, 2), st.integers(0, 2), st.integers(1, 500)),
        st.tuples(st.just("single"), st.integers(0, 2), st.integers(0, 2), st.integers(1, 500)),
        st.tuples(st.just("post"), st.integers(0, 30), st.integers(0, 600), st.just(0)),
        st.tuples(st.just("void"), st.integers(0, 30), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=25,
)


@dataclass
class LedgerModel:
    debits: dict[str, list[int]] = field(default_factory=dict)  # acc -> [pending, posted]
    credits: dict[str, list[int]] = field(default_factory=dict)
    pendings: list[tuple[str, str, str, int]] = field(default_factory=list)
    resolved: set[str] = field(default_factory=set)


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_REUSE)
@given(ops=ledger_ops)
def test_ledger_balances_and_pending_resolves_at_most_once(
    engine: Engine, ops: list[tuple[str, int, int, int]]
) -> None:
    run = uuid.uuid4().hex[:8]
    model = LedgerModel()
    with write_transaction(engine) as s:
        accounts = [
            Ledger(s).open_account(AccountKind.CUSTOMER_PAYMENT_TOKEN, f"{run}-{i}", "EUR")
            for i in range(3)
        ]
    for acc in accounts:
        model.debits[acc], model.credits[acc] = [0, 0], [0, 0]
    for n, (op, a, b, amount) in enumerate(ops):
        tid = f"{run}-{n}"
        try:
            with write_transaction(engine) as s:
                ledger = Ledger(s)
                if op in ("pend", "single"):
                    dr, cr = accounts[a], accounts[b]
                    if dr == cr:
                        continue
                    if op == "pend":
                        ledger.pend(tid, dr, cr, Money(amount, "EUR"))
                        model.pendings.append((tid, dr, cr, amount))
                        model.debits[dr][0] += amount
                        model.credits[cr][0] += amount
                    else:
                        ledger.transfer(tid, dr, cr, Money(amount, "EUR"))
                        model.debits[dr][1] += amount
                        model.credits[cr][1] += amount
                    continue
                if not model.pendings:
                    continue
                pid, dr, cr, held = model.pendings[a % len(model.pendings)]
                if op == "post":
                    ledger.post_pending(tid, pid, Money(b, "EUR"))
                else:
                    ledger.void_pending(tid, pid)
                # only reached when the ledger accepted: it must have been open and in range
                assert pid not in model.resolved
                assert op == "void" or b <= held
                posted = b if op == "post" else 0
                model.resolved.add(pid)
                model.debits[dr][0] -= held
                model.credits[cr][0] -= held
                model.debits[dr][1] += posted
                model.credits[cr][1] += posted
        except TransferRejectedError:
            # the only refusals: resolving twice, or posting more than is pending
            assert pid in model.resolved or (op == "post" and b > held)
    with Session(engine) as s:
        for acc in accounts:
            bal = Ledger(s).balance(acc)
            assert [bal.debits_pending, bal.debits_posted] == model.debits[acc]
            assert [bal.credits_pending, bal.credits_posted] == model.credits[acc]
        resolved_twice = s.execute(
            select(LedgerTransfer.pending_id, func.count())
            .where(LedgerTransfer.pending_id.is_not(None))
            .group_by(LedgerTransfer.pending_id)
            .having(func.count() > 1)
        ).all()
        assert resolved_twice == []
    report = verify_ledger(engine)
    assert report.ok, report.problems


# --- the whole service against the sandbox network ---------------------------------

service_ops = st.lists(
    st.tuples(
        st.sampled_from(["hold", "increment", "capture", "void", "refund"]),
        st.integers(0, 2),  # which authorization
        st.integers(1, 4_000),  # amount
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=FIXTURE_REUSE)
@given(ops=service_ops)
def test_random_operation_sequences_keep_everything_consistent(
    payments_env: PaymentsEnv, ops: list[tuple[str, int, int]]
) -> None:
    env = payments_env
    body = "4000" + uuid.uuid4().int.__str__()[:11]
    pan = body + luhn_check_digit(body)  # a fresh card with a small limit: declines happen
    env.sandbox.network.issuer.set_limit(pan, 6_000)
    pm = env.link(pan)
    card = env.sandbox.network.issuer.account(pan)
    auths: list[str] = []
    for kind, which, amount in ops:
        usd = Money(amount, "USD")
        k = uuid.uuid4().hex
        try:
            if kind == "hold" or not auths:
                result = env.service.hold(
                    payment_method_id=pm, amount=usd, merchant_ref="m", idempotency_key=k
                )
                if result.approved:
                    auths.append(result.authorization.id)
                continue
            auth_id = auths[which % len(auths)]
            view = env.service.get(auth_id)
            if kind == "increment":
                env.service.increment(authorization_id=auth_id, additional=usd, idempotency_key=k)
            elif kind == "capture":
                amount = min(amount, max(view.held, 1))
                env.service.capture(
                    authorization_id=auth_id, amount=Money(amount, "USD"), idempotency_key=k
                )
            elif kind == "void":
                env.service.void(authorization_id=auth_id, idempotency_key=k)
            else:
                env.service.refund(authorization_id=auth_id, amount=usd, idempotency_key=k)
        except InvalidRequestError:
            pass  # bad for the current state: rejected, nothing changed (checked below)
        assert card.available("USD") >= 0
    total_held = total_captured = total_refunded = 0
    for auth_id in auths:
        view = env.service.get(auth_id)
        assert view.processor_ref is not None
        net = env.sandbox.network.authorizations[view.processor_ref]
        assert (view.held, view.captured, view.refunded) == (
            net.authorized,
            net.captured,
            net.refunded,
        )
        if view.status == AuthStatus.HELD:
            total_held += view.held
        total_captured += view.captured
        total_refunded += view.refunded
    if auths:
        with Session(env.engine) as s:
            bal = Ledger(s).balance(account_id(AccountKind.CUSTOMER_PAYMENT_TOKEN, pm, "USD"))
        assert (bal.debits_pending, bal.debits_posted, bal.credits_posted) == (
            total_held,
            total_captured,
            total_refunded,
        )
    report = verify_ledger(env.engine)
    assert report.ok, report.problems


# --- the same, with the process "dying" between processor call and commit -----------

crashing_ops = st.lists(
    st.tuples(
        st.sampled_from(["authorize", "increment", "capture", "void", "refund"]),
        st.integers(0, 2),
        st.integers(1, 3_000),
        st.sampled_from([None, None, *CrashPoint]),
    ),
    min_size=1,
    max_size=8,
)


def _auth_ids(env: PaymentsEnv, pm: str) -> list[str]:
    with Session(env.engine) as s:
        return list(
            s.scalars(
                select(Authorization.id)
                .where(Authorization.payment_method_id == pm)
                .order_by(Authorization.created_at, Authorization.id)
            )
        )


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=FIXTURE_REUSE)
@given(ops=crashing_ops)
def test_random_sequences_with_crashes_reconcile_to_agreement(
    payments_env: PaymentsEnv, ops: list[tuple[str, int, int, CrashPoint | None]]
) -> None:
    env = payments_env
    body = "4000" + str(uuid.uuid4().int)[:11]
    pan = body + luhn_check_digit(body)
    env.sandbox.network.issuer.set_limit(pan, 8_000)
    card = env.sandbox.network.issuer.account(pan)
    pm = env.link(pan)
    reconciler = Reconciler(env.service, grace=timedelta(0))
    for name, which, amount, crash in ops:
        kind = OperationKind(name)
        service = env.service if crash is None else crashing(env, kind, crash)
        usd, k = Money(amount, "USD"), uuid.uuid4().hex
        auths = _auth_ids(env, pm)
        try:
            if kind is OperationKind.AUTHORIZE or not auths:
                service.hold(payment_method_id=pm, amount=usd, merchant_ref="m", idempotency_key=k)
                continue
            auth_id = auths[which % len(auths)]
            if kind is OperationKind.INCREMENT:
                service.increment(authorization_id=auth_id, additional=usd, idempotency_key=k)
            elif kind is OperationKind.CAPTURE:
                held = env.service.get(auth_id).held
                service.capture(
                    authorization_id=auth_id,
                    amount=Money(min(amount, max(held, 1)), "USD"),
                    idempotency_key=k,
                )
            elif kind is OperationKind.VOID:
                service.void(authorization_id=auth_id, idempotency_key=k)
            else:
                service.refund(authorization_id=auth_id, amount=usd, idempotency_key=k)
        except SimulatedCrash:
            report = reconciler.run_once()
            assert not report.errors and not report.still_unknown
        except InvalidRequestError:
            pass
        assert card.available("USD") >= 0
    reconciler.run_once()
    for auth_id in _auth_ids(env, pm):
        view = env.service.get(auth_id)
        if view.processor_ref is None:
            assert view.status in (AuthStatus.DECLINED, AuthStatus.FAILED)
            continue
        assert view.status in STATUS_AT_NETWORK
        net = env.sandbox.network.authorizations[view.processor_ref]
        assert STATUS_AT_NETWORK[AuthStatus(view.status)] == net.status
        assert (view.held, view.captured, view.refunded) == (
            net.authorized,
            net.captured,
            net.refunded,
        )
    report = verify_ledger(env.engine)
    assert report.ok, report.problems

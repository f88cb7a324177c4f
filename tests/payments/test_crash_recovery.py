"""Crash injection: the process "dies" between the processor call and the commit at every
step; after reconciliation the ledger and the processor agree and nothing happened twice."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from conftest import PaymentsEnv
from sqlalchemy import select
from sqlalchemy.orm import Session

from card_network.cards import Behaviour
from payments.authorizations.models import Authorization, AuthStatus, Operation, OpStatus
from payments.authorizations.reconcile import Reconciler
from payments.authorizations.service import AuthorizationService, CrashPoint, OperationResult
from payments.errors import UnknownOutcomeError
from payments.ledger import AccountKind, Ledger, account_id, verify_ledger
from payments.money import Money
from payments.processor import OperationKind


class SimulatedCrash(BaseException):
    """Raised where the process would die; BaseException so nothing catches it politely."""


STATUS_AT_NETWORK = {
    AuthStatus.HELD: "held",
    AuthStatus.CAPTURED: "captured",
    AuthStatus.VOIDED: "voided",
}


def crashing(env: PaymentsEnv, kind: OperationKind, point: CrashPoint) -> AuthorizationService:
    def hook(k: OperationKind, p: CrashPoint) -> None:
        if (k, p) == (kind, point):
            raise SimulatedCrash(f"{k}/{p}")

    return AuthorizationService(
        env.engine, {"sandbox": env.processor}, env.methods, fee_bps=250, crash_hook=hook
    )


def step(
    service: AuthorizationService, kind: OperationKind, pm: str, auth_id: str | None, key: str
) -> OperationResult:
    usd = lambda n: Money(n, "USD")  # noqa: E731
    if kind is OperationKind.AUTHORIZE:
        return service.hold(
            payment_method_id=pm, amount=usd(1_000), merchant_ref="m-1", idempotency_key=key
        )
    assert auth_id is not None
    if kind is OperationKind.INCREMENT:
        return service.increment(authorization_id=auth_id, additional=usd(250), idempotency_key=key)
    if kind is OperationKind.CAPTURE:
        return service.capture(authorization_id=auth_id, amount=usd(800), idempotency_key=key)
    if kind is OperationKind.VOID:
        return service.void(authorization_id=auth_id, idempotency_key=key)
    return service.refund(authorization_id=auth_id, amount=usd(300), idempotency_key=key)


def prepare(env: PaymentsEnv, kind: OperationKind, pm: str) -> str | None:
    if kind is OperationKind.AUTHORIZE:
        return None
    held = step(env.service, OperationKind.AUTHORIZE, pm, None, uuid.uuid4().hex)
    auth_id = held.authorization.id
    if kind is OperationKind.REFUND:
        step(env.service, OperationKind.CAPTURE, pm, auth_id, uuid.uuid4().hex)
    return auth_id


def assert_agreement(env: PaymentsEnv, pm: str) -> tuple[int, int, int, int]:
    """Our authorization, the network's and the ledger tell the same story."""
    with Session(env.engine) as session:
        auth = session.scalars(
            select(Authorization).where(Authorization.payment_method_id == pm)
        ).one()
        intents = session.scalars(
            select(Operation).where(Operation.status == OpStatus.INTENT.value)
        ).all()
        bal = Ledger(session).balance(account_id(AccountKind.CUSTOMER_PAYMENT_TOKEN, pm, "USD"))
    assert intents == []
    assert auth.processor_ref is not None
    net = env.sandbox.network.authorizations[auth.processor_ref]
    assert STATUS_AT_NETWORK[AuthStatus(auth.status)] == net.status
    assert (auth.held, auth.captured, auth.refunded) == (net.authorized, net.captured, net.refunded)
    pending = auth.held if auth.status == AuthStatus.HELD else 0
    assert (bal.debits_pending, bal.debits_posted, bal.credits_posted) == (
        pending,
        auth.captured,
        auth.refunded,
    )
    report = verify_ledger(env.engine)
    assert report.ok, report.problems
    return net.authorized, net.captured, net.refunded, bal.debits_posted


@pytest.mark.parametrize("point", list(CrashPoint))
@pytest.mark.parametrize(
    "kind",
    [
        OperationKind.AUTHORIZE,
        OperationKind.INCREMENT,
        OperationKind.CAPTURE,
        OperationKind.VOID,
        OperationKind.REFUND,
    ],
)
def test_crash_between_processor_and_commit(
    payments_env: PaymentsEnv, kind: OperationKind, point: CrashPoint
) -> None:
    env = payments_env
    pm = env.link()
    auth_id = prepare(env, kind, pm)
    key = uuid.uuid4().hex
    with pytest.raises(SimulatedCrash):
        step(crashing(env, kind, point), kind, pm, auth_id, key)

    # "restart": a fresh service without the fault reconciles what was left open
    report = Reconciler(env.service, grace=timedelta(0)).run_once()
    assert report.finished and not report.still_unknown and not report.errors
    if kind is OperationKind.AUTHORIZE:
        assert report.voided_orphans  # nobody got this hold, so it is released
    before = assert_agreement(env, pm)

    # the caller retries with the same key: the stored outcome, nothing applied twice
    again = step(env.service, kind, pm, auth_id, key)
    assert again.approved
    assert assert_agreement(env, pm) == before


def test_unknown_outcome_left_for_reconciliation(payments_env: PaymentsEnv) -> None:
    """The network times out and cannot even be queried: the intent waits, then finishes."""
    env = payments_env
    pm = env.link()
    held = step(env.service, OperationKind.AUTHORIZE, pm, None, uuid.uuid4().hex)
    network = env.sandbox.network
    network.inject_fault(OperationKind.CAPTURE, Behaviour.UNAVAILABLE)  # first attempt: 503
    with pytest.raises(Exception, match="unavailable"):
        step(env.service, OperationKind.CAPTURE, pm, held.authorization.id, uuid.uuid4().hex)
    # a timed-out capture whose query also fails stays an intent
    network.inject_fault(OperationKind.CAPTURE, Behaviour.TIMEOUT)
    original_query = env.processor.query_operation
    env.processor.query_operation = lambda **kw: (_ for _ in ()).throw(  # type: ignore[method-assign]
        UnknownOutcomeError("query lost too")
    )
    key = uuid.uuid4().hex
    try:
        with pytest.raises(UnknownOutcomeError):
            step(env.service, OperationKind.CAPTURE, pm, held.authorization.id, key)
    finally:
        env.processor.query_operation = original_query  # type: ignore[method-assign]
    assert env.service.get(held.authorization.id).status == AuthStatus.HELD
    report = Reconciler(env.service, grace=timedelta(0)).run_once()
    assert len(report.finished) == 1
    assert env.service.get(held.authorization.id).status == AuthStatus.CAPTURED
    assert_agreement(env, pm)

"""Crash injection with the Stripe processor: the payments service dies between the Stripe
call and its commit at every step; after reconciliation our authorization, the ledger and
the Stripe test double agree, and a retry with the same key applies nothing twice.

The harness (`run_crash_scenario`) is processor-agnostic; test_partner_recovery.py uses it
for the partner processor.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from stripe_double import StripeDouble, running_double

from payments.authorizations.models import Authorization, AuthStatus, Operation, OpStatus
from payments.authorizations.reconcile import Reconciler
from payments.authorizations.service import AuthorizationService, CrashPoint, OperationResult
from payments.ledger import AccountKind, Ledger, account_id, verify_ledger
from payments.methods import CredentialCipher, PaymentMethodStore
from payments.money import Money
from payments.processor import OperationKind, PaymentMethod, Processor
from payments.processors.stripe_processor import StripeConfig, StripeProcessor

pytestmark = pytest.mark.filterwarnings("ignore:Use .content=:DeprecationWarning")

KINDS = [
    OperationKind.AUTHORIZE,
    OperationKind.INCREMENT,
    OperationKind.CAPTURE,
    OperationKind.VOID,
    OperationKind.REFUND,
]
_STATUS = {AuthStatus.HELD: "held", AuthStatus.CAPTURED: "captured", AuthStatus.VOIDED: "voided"}


class SimulatedCrash(BaseException):
    """Raised where the process would die; BaseException so nothing catches it politely."""


@dataclass(frozen=True)
class ProcessorSide:
    """One processor under test and how to read the truth on its side."""

    processor: Processor
    link: Callable[[], PaymentMethod]
    # authorization ref -> (held|captured|voided, authorized, captured, refunded)
    snapshot: Callable[[str], tuple[str, int, int, int]]
    # Grow the hold before capture/void/refund, so those act on a grown hold.
    grow_first: bool = False


def _service(
    engine: Engine, side: ProcessorSide, methods: PaymentMethodStore, crash: object = None
) -> AuthorizationService:
    def hook(kind: OperationKind, point: CrashPoint) -> None:
        if (kind, point) == crash:
            raise SimulatedCrash(f"{kind}/{point}")

    processors = {side.processor.name: side.processor}
    return AuthorizationService(engine, processors, methods, fee_bps=250, crash_hook=hook)


def _step(
    service: AuthorizationService, kind: OperationKind, pm: str, auth_id: str | None, key: str
) -> OperationResult:
    usd = lambda cents: Money(cents, "USD")  # noqa: E731
    if kind is OperationKind.AUTHORIZE:
        return service.hold(
            payment_method_id=pm, amount=usd(1_000), merchant_ref="cab-1", idempotency_key=key
        )
    assert auth_id is not None
    if kind is OperationKind.INCREMENT:
        return service.increment(authorization_id=auth_id, additional=usd(250), idempotency_key=key)
    view = service.get(auth_id)
    if kind is OperationKind.CAPTURE:
        amount = usd(view.held - 150)
        return service.capture(authorization_id=auth_id, amount=amount, idempotency_key=key)
    if kind is OperationKind.VOID:
        return service.void(authorization_id=auth_id, idempotency_key=key)
    amount = usd(view.captured - 50)
    return service.refund(authorization_id=auth_id, amount=amount, idempotency_key=key)


def _agreement(engine: Engine, side: ProcessorSide, pm: str) -> tuple[str, int, int, int]:
    with Session(engine) as session:
        auth = session.scalars(
            select(Authorization).where(Authorization.payment_method_id == pm)
        ).one()
        open_intents = session.scalars(
            select(Operation).where(Operation.status == OpStatus.INTENT.value)
        ).all()
        balance = Ledger(session).balance(account_id(AccountKind.CUSTOMER_PAYMENT_TOKEN, pm, "USD"))
    assert open_intents == []
    assert auth.processor_ref is not None
    remote = side.snapshot(auth.processor_ref)
    assert remote == (_STATUS[AuthStatus(auth.status)], auth.held, auth.captured, auth.refunded)
    pending = auth.held if auth.status == AuthStatus.HELD else 0
    assert (balance.debits_pending, balance.debits_posted, balance.credits_posted) == (
        pending,
        auth.captured,
        auth.refunded,
    )
    report = verify_ledger(engine)
    assert report.ok, report.problems
    return remote


def run_crash_scenario(
    engine: Engine, side: ProcessorSide, kind: OperationKind, point: CrashPoint
) -> None:
    methods = PaymentMethodStore(engine, CredentialCipher(CredentialCipher.generate_key()))
    pm = methods.save(f"cust-{uuid.uuid4().hex[:8]}", side.link())
    healthy = _service(engine, side, methods)
    auth_id = None
    if kind is not OperationKind.AUTHORIZE:
        held = _step(healthy, OperationKind.AUTHORIZE, pm, None, uuid.uuid4().hex)
        auth_id = held.authorization.id
        if side.grow_first and kind is not OperationKind.INCREMENT:
            _step(healthy, OperationKind.INCREMENT, pm, auth_id, uuid.uuid4().hex)
        if kind is OperationKind.REFUND:
            _step(healthy, OperationKind.CAPTURE, pm, auth_id, uuid.uuid4().hex)
    key = uuid.uuid4().hex
    with pytest.raises(SimulatedCrash):
        _step(_service(engine, side, methods, (kind, point)), kind, pm, auth_id, key)

    # "Restart": a fresh service reconciles what the dead one left open.
    report = Reconciler(healthy, grace=timedelta(0)).run_once()
    assert report.finished
    assert not report.still_unknown
    assert not report.errors
    if kind is OperationKind.AUTHORIZE:
        assert report.voided_orphans  # nobody received this hold, so it is released
    before = _agreement(engine, side, pm)

    again = _step(healthy, kind, pm, auth_id, key)
    assert again.approved
    assert _agreement(engine, side, pm) == before


# -- the Stripe side -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def double() -> Iterator[StripeDouble]:
    with running_double() as running:
        yield running


def _stripe_side(double: StripeDouble, test_card: str) -> ProcessorSide:
    # No SDK retries: a lost answer must be resolved by querying, the path under test.
    config = StripeConfig(api_key=double.api_key, api_base=double.url, max_network_retries=0)
    processor = StripeProcessor(config)

    def link() -> PaymentMethod:
        session = processor.begin_link(
            customer_ref="c",
            return_url="https://facepay.test/done",
            idempotency_key=uuid.uuid4().hex,
        )
        double.state.confirm_setup_intent(session.setup_ref, {"payment_method": test_card})
        return processor.complete_link(setup_ref=session.setup_ref, idempotency_key="done")

    def snapshot(ref: str) -> tuple[str, int, int, int]:
        """The whole hold group: the original intent and its second charges."""
        original = double.state.intent(ref)
        ids = [ref, *filter(None, original["metadata"].get("facepay_extra_holds", "").split(","))]
        intents = [double.state.intent(i) for i in ids]
        charges = [double.state.charge(pi["latest_charge"]) for pi in intents]
        status = {"requires_capture": "held", "succeeded": "captured", "canceled": "voided"}
        return (
            status[original["status"]],
            sum(pi["amount"] for pi in intents),
            sum(pi["amount_received"] for pi in intents),
            sum(charge["amount_refunded"] for charge in charges),
        )

    return ProcessorSide(processor, link, snapshot, grow_first=test_card == "pm_card_amex")


@pytest.fixture(scope="module", params=["pm_card_visa", "pm_card_amex"])
def stripe_side(double: StripeDouble, request: pytest.FixtureRequest) -> Iterator[ProcessorSide]:
    """Visa: true incremental authorization. Amex (in the double): second charges."""
    side = _stripe_side(double, request.param)
    yield side
    assert isinstance(side.processor, StripeProcessor)
    side.processor.close()


@pytest.mark.parametrize("point", list(CrashPoint))
@pytest.mark.parametrize("kind", KINDS)
def test_stripe_crash_between_call_and_commit(
    sqlite_engine: Engine, stripe_side: ProcessorSide, kind: OperationKind, point: CrashPoint
) -> None:
    run_crash_scenario(sqlite_engine, stripe_side, kind, point)


def test_stripe_crash_recovery_on_each_database(engine: Engine, stripe_side: ProcessorSide) -> None:
    # The full matrix runs on SQLite; the database only matters to the recording side.
    run_crash_scenario(engine, stripe_side, OperationKind.AUTHORIZE, CrashPoint.BEFORE_COMMIT)


def test_lost_stripe_answer_is_recovered_inline(
    engine: Engine, double: StripeDouble, stripe_side: ProcessorSide
) -> None:
    """No crash, only a lost HTTP answer: the service queries Stripe and records the hold."""
    methods = PaymentMethodStore(engine, CredentialCipher(CredentialCipher.generate_key()))
    pm = methods.save("cust-lost", stripe_side.link())
    service = _service(engine, stripe_side, methods)
    double.drop_next_responses(1)
    held = _step(service, OperationKind.AUTHORIZE, pm, None, uuid.uuid4().hex)
    assert held.approved
    assert held.authorization.status == AuthStatus.HELD
    _agreement(engine, stripe_side, pm)

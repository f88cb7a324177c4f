"""Holds and what follows them: capture, void, increment, refund — through the processor,
recorded in the ledger and the authorizations table.

Each step: (1) in one transaction, validate and write an ``intent`` operation;
(2) call the processor with a key derived from the caller's idempotency key;
(3) in a second transaction, record the outcome (ledger + authorization + operation).
A crash between (2) and (3) leaves the intent for ``Reconciler`` to finish.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from enum import StrEnum

import msgspec
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from payments.authorizations.dispatch import processor_call
from payments.authorizations.models import Authorization, AuthStatus, Operation, OpStatus, Purpose
from payments.authorizations.postings import Postings
from payments.authorizations.transitions import (
    AuthorizationView,
    OperationResult,
    apply_outcome,
    check_follow_up,
    lock_auth,
    new_op,
    op_by_key,
    result_of,
    view_of,
)
from payments.db import utcnow, write_transaction
from payments.debt import open_debts
from payments.errors import (
    InvalidRequestError,
    NotFoundError,
    OpenDebtError,
    ProcessorError,
    ProcessorUnavailableError,
    UnknownOutcomeError,
)
from payments.idempotency import IdempotencyStore, RecordStatus, request_hash
from payments.methods import PaymentMethodStore
from payments.money import Money
from payments.processor import OperationKind, Outcome, Processor

__all__ = [
    "AuthorizationService",
    "AuthorizationView",
    "CrashHook",
    "CrashPoint",
    "OperationResult",
    "processor_key",
]


class CrashPoint(StrEnum):
    AFTER_PROCESSOR_CALL = "after_processor_call"  # answered, nothing recorded yet
    BEFORE_COMMIT = "before_commit"  # outcome written but the transaction not committed


CrashHook = Callable[[OperationKind, CrashPoint], None]


def processor_key(kind: OperationKind, idempotency_key: str) -> str:
    """The key sent to the processor: stable for a caller's key, at most 200 chars."""
    raw = f"{kind.value}:{idempotency_key}"
    return (
        raw
        if len(raw) <= 200
        else f"{kind.value}:sha256:{hashlib.sha256(raw.encode()).hexdigest()}"
    )


class AuthorizationService:
    def __init__(
        self,
        engine: Engine,
        processors: Mapping[str, Processor],
        methods: PaymentMethodStore,
        *,
        idempotency: IdempotencyStore | None = None,
        fee_bps: int = 0,
        hold_ttl: timedelta = timedelta(days=7),
        crash_hook: CrashHook | None = None,
    ) -> None:
        if not 0 <= fee_bps <= 10_000:
            raise InvalidRequestError("fee_bps must be 0-10000")
        self.engine = engine
        self.processors = dict(processors)
        self.methods = methods
        self.idempotency = idempotency or IdempotencyStore(engine)
        self.fee_bps = fee_bps
        self.hold_ttl = hold_ttl
        self.crash_hook = crash_hook

    # public operations --------------------------------------------------------

    def hold(
        self,
        *,
        payment_method_id: str,
        amount: Money,
        merchant_ref: str,
        idempotency_key: str,
        reference: str = "",
        for_debt: str | None = None,
    ) -> OperationResult:
        """Place a hold. Refused with ``OpenDebtError`` while the customer owes money
        (unless this hold is the retry charge ``for_debt``)."""
        amount.require_positive()
        if not merchant_ref:
            raise InvalidRequestError("merchant_ref is required")
        params = {
            "pm": payment_method_id,
            "amount": amount.amount,
            "currency": amount.currency,
            "merchant": merchant_ref,
            "reference": reference,
            "debt": for_debt,
        }
        return self._run(
            "hold",
            idempotency_key,
            params,
            lambda session: self._start_hold(
                session,
                payment_method_id,
                amount,
                merchant_ref,
                idempotency_key,
                reference,
                for_debt,
            ),
        )

    def increment(
        self, *, authorization_id: str, additional: Money, idempotency_key: str
    ) -> OperationResult:
        additional.require_positive()
        return self._follow_up(
            OperationKind.INCREMENT, authorization_id, additional, idempotency_key
        )

    def capture(
        self,
        *,
        authorization_id: str,
        amount: Money,
        idempotency_key: str,
        goods_taken: bool = True,
    ) -> OperationResult:
        """Capture ``amount`` (at most the hold; the rest is released). If the processor
        declines and ``goods_taken``, the amount becomes a customer debt."""
        amount.require_positive()
        return self._follow_up(
            OperationKind.CAPTURE,
            authorization_id,
            amount,
            idempotency_key,
            goods_taken=goods_taken,
        )

    def void(self, *, authorization_id: str, idempotency_key: str) -> OperationResult:
        return self._follow_up(OperationKind.VOID, authorization_id, None, idempotency_key)

    def refund(
        self, *, authorization_id: str, amount: Money, idempotency_key: str
    ) -> OperationResult:
        amount.require_positive()
        return self._follow_up(OperationKind.REFUND, authorization_id, amount, idempotency_key)

    def get(self, authorization_id: str) -> AuthorizationView:
        with Session(self.engine) as session:
            auth = session.get(Authorization, authorization_id)
            if auth is None:
                raise NotFoundError(f"no authorization {authorization_id!r}")
            return view_of(auth)

    # steps ----------------------------------------------------------------------

    def _run(
        self,
        scope: str,
        key: str,
        params: Mapping[str, object],
        start: Callable[[Session], str],
    ) -> OperationResult:
        """Claim the caller's key and record the intent in one transaction, then execute.
        The stored result is written in the same transaction as the outcome."""
        idem = self.idempotency
        digest = request_hash(params)
        deadline = time.monotonic() + idem.wait_timeout
        while True:
            try:
                with write_transaction(self.engine) as session:
                    stored = idem.claim(session, scope, key, digest)
                    if stored is None:
                        op_id = start(session)
                        op = session.get(Operation, op_id)
                        assert op is not None
                        op.idem_scope, op.idem_key = scope, key
                        break
            except IntegrityError:
                continue  # a concurrent caller claimed the key first (PostgreSQL)
            if stored.status == RecordStatus.COMPLETED and stored.response is not None:
                return msgspec.json.decode(stored.response, type=OperationResult)
            idem.wait(key, deadline)
        return self.execute(op_id)

    def _start_hold(
        self,
        session: Session,
        pm_id: str,
        amount: Money,
        merchant_ref: str,
        key: str,
        reference: str,
        for_debt: str | None,
    ) -> str:
        pkey = processor_key(OperationKind.AUTHORIZE, key)
        existing = op_by_key(session, pkey)
        if existing is not None:
            return existing.id  # a crashed earlier attempt: finish it
        customer_ref, method = self.methods.load(session, pm_id)
        debts = open_debts(session, customer_ref)
        if for_debt is None and debts:
            raise OpenDebtError(f"customer has {len(debts)} open debt(s)")
        if for_debt is not None and for_debt not in {d.id for d in debts}:
            raise InvalidRequestError(f"{for_debt} is not an open debt of the customer")
        now = utcnow()
        auth = Authorization(
            id="authz_" + secrets.token_hex(10),
            customer_ref=customer_ref,
            merchant_ref=merchant_ref,
            payment_method_id=pm_id,
            processor=method.processor,
            processor_ref=None,
            currency=amount.currency,
            requested=amount.amount,
            held=0,
            captured=0,
            refunded=0,
            status=AuthStatus.PENDING.value,
            purpose=(Purpose.DEBT_RETRY if for_debt else Purpose.PURCHASE).value,
            reference=for_debt or reference,
            decline_code=None,
            pending_count=0,
            created_at=now,
            updated_at=now,
            expires_at=now + self.hold_ttl,
        )
        session.add(auth)
        session.flush()
        return new_op(session, auth, OperationKind.AUTHORIZE, pkey, amount).id

    def _follow_up(
        self,
        kind: OperationKind,
        auth_id: str,
        amount: Money | None,
        key: str,
        *,
        goods_taken: bool = False,
    ) -> OperationResult:
        params = {
            "auth": auth_id,
            "amount": amount.amount if amount else None,
            "currency": amount.currency if amount else None,
            "goods": goods_taken,
        }
        return self._run(
            kind.value,
            key,
            params,
            lambda session: self._start_follow_up(session, kind, auth_id, amount, key, goods_taken),
        )

    def _start_follow_up(
        self,
        session: Session,
        kind: OperationKind,
        auth_id: str,
        amount: Money | None,
        key: str,
        goods_taken: bool,
    ) -> str:
        pkey = processor_key(kind, key)
        op = op_by_key(session, pkey)
        if op is None:
            auth = lock_auth(session, auth_id)
            check_follow_up(session, auth, kind, amount)
            op = new_op(session, auth, kind, pkey, amount or Money(auth.held, auth.currency))
            op.goods_taken = goods_taken
        return op.id

    def execute(self, op_id: str) -> OperationResult:
        """Send an operation to the processor (again, with the same key) and record it."""
        with Session(self.engine) as session:
            op = session.get(Operation, op_id)
            if op is None:
                raise NotFoundError(f"no operation {op_id!r}")
            auth = session.get(Authorization, op.authorization_id)
            assert auth is not None
            if op.status in (OpStatus.SUCCEEDED.value, OpStatus.DECLINED.value):
                return self.record(op_id, None)  # finished earlier; make sure it is stored
            kind = OperationKind(op.kind)
            processor = self._processor(auth.processor)
            call = processor_call(session, self.methods, processor, op, auth)
            ref = auth.processor_ref
            if op.status != OpStatus.INTENT.value:
                self._reopen(op_id)  # never applied by the processor: send it again
        try:
            outcome = call()
        except UnknownOutcomeError:
            found = self._query(processor, kind, op.processor_key, ref)
            if found is None:
                raise  # the intent stays; the reconciler will finish it
            outcome = found
        except ProcessorUnavailableError:
            self.give_up(op_id, OpStatus.ABANDONED, "processor unavailable")
            raise
        except ProcessorError as exc:
            self.give_up(op_id, OpStatus.REJECTED, str(exc))
            raise
        self._crash(kind, CrashPoint.AFTER_PROCESSOR_CALL)
        return self.record(op_id, outcome)

    def _query(
        self, processor: Processor, kind: OperationKind, key: str, ref: str | None
    ) -> Outcome | None:
        try:
            return processor.query_operation(kind=kind, idempotency_key=key, authorization_ref=ref)
        except ProcessorUnavailableError:
            return None

    def record(self, op_id: str, outcome: Outcome | None) -> OperationResult:
        """Record a processor outcome for an intent (once; later calls return the result)
        and store it as the caller's idempotent result, all in one transaction."""
        with write_transaction(self.engine) as session:
            op = session.get(Operation, op_id, with_for_update=True, populate_existing=True)
            assert op is not None
            auth = lock_auth(session, op.authorization_id)
            if op.status != OpStatus.INTENT.value or outcome is None:
                result = result_of(op, auth)
            else:
                debt_id = apply_outcome(Postings(session, self.fee_bps), session, op, auth, outcome)
                op.status = (OpStatus.SUCCEEDED if outcome.approved else OpStatus.DECLINED).value
                op.decline_code = outcome.decline_code.value if outcome.decline_code else None
                op.message = outcome.message[:300]
                op.completed_at = auth.updated_at = utcnow()
                result = result_of(op, auth, debt_id)
            if op.idem_key and op.status != OpStatus.INTENT.value:
                self.idempotency.complete(session, op.idem_scope, op.idem_key, result)
            self._crash(OperationKind(op.kind), CrashPoint.BEFORE_COMMIT)
            return result

    def _reopen(self, op_id: str) -> None:
        with write_transaction(self.engine) as session:
            op = session.get(Operation, op_id, with_for_update=True, populate_existing=True)
            assert op is not None
            if op.status in (OpStatus.ABANDONED.value, OpStatus.REJECTED.value):
                op.status, op.completed_at = OpStatus.INTENT.value, None

    def give_up(self, op_id: str, status: OpStatus, message: str) -> None:
        """Close an intent the processor never applied."""
        with write_transaction(self.engine) as session:
            op = session.get(Operation, op_id, with_for_update=True, populate_existing=True)
            assert op is not None
            if op.status != OpStatus.INTENT.value:
                return
            auth = lock_auth(session, op.authorization_id)
            op.status, op.message, op.completed_at = status.value, message[:300], utcnow()
            if op.idem_key:  # nothing happened: the caller may retry with the same key
                self.idempotency.release(session, op.idem_scope, op.idem_key)
            if op.kind == OperationKind.AUTHORIZE.value:
                auth.status = AuthStatus.FAILED.value

    def _processor(self, name: str) -> Processor:
        processor = self.processors.get(name)
        if processor is None:
            raise InvalidRequestError(f"processor {name!r} is not configured")
        return processor

    def _crash(self, kind: OperationKind, point: CrashPoint) -> None:
        if self.crash_hook is not None:
            self.crash_hook(kind, point)

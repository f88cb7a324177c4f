"""Finish what a crash or a lost answer left open, and release expired holds.

For every operation still in ``intent`` after a grace period, ask the processor what
happened under our idempotency key. If it applied the request, record that outcome;
if it never saw it, send it again with the same key (safe: the processor deduplicates)
— except a hold nobody is waiting for any more, which is abandoned. A hold found only
by reconciliation is voided, since its caller already gave up on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from payments.authorizations.models import Authorization, AuthStatus, Operation, OpStatus
from payments.authorizations.service import AuthorizationService
from payments.db import utcnow
from payments.errors import (
    OperationInProgressError,
    PaymentsError,
    ProcessorError,
    ProcessorUnavailableError,
)
from payments.processor import OperationKind


@dataclass(slots=True)
class ReconcileReport:
    finished: list[str] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    still_unknown: list[str] = field(default_factory=list)
    voided_orphans: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Reconciler:
    def __init__(
        self, service: AuthorizationService, *, grace: timedelta = timedelta(seconds=60)
    ) -> None:
        self.service = service
        self.grace = grace

    def run_once(self, now: datetime | None = None) -> ReconcileReport:
        now = now or utcnow()
        report = ReconcileReport()
        for op_id in pending_intents(self.service.engine, now - self.grace):
            self._finish(op_id, report)
        for auth_id in expired_holds(self.service.engine, now):
            self._expire(auth_id, report)
        return report

    def _finish(self, op_id: str, report: ReconcileReport) -> None:
        service = self.service
        with Session(service.engine) as session:
            op = session.get(Operation, op_id)
            assert op is not None
            auth = session.get(Authorization, op.authorization_id)
            assert auth is not None
            kind, key, ref = OperationKind(op.kind), op.processor_key, auth.processor_ref
            processor = service.processors[auth.processor]
        try:
            outcome = processor.query_operation(
                kind=kind, idempotency_key=key, authorization_ref=ref
            )
        except ProcessorError as exc:
            # the processor refused the original request: nothing happened
            service.give_up(op_id, OpStatus.REJECTED, str(exc))
            report.finished.append(op_id)
            return
        except ProcessorUnavailableError:
            report.still_unknown.append(op_id)
            return
        try:
            if outcome is not None:
                result = service.record(op_id, outcome)
            elif kind is OperationKind.AUTHORIZE:
                service.give_up(op_id, OpStatus.ABANDONED, "never reached the processor")
                report.abandoned.append(op_id)
                return
            else:
                result = service.execute(op_id)
        except ProcessorUnavailableError:
            report.still_unknown.append(op_id)
            return
        except PaymentsError as exc:
            report.errors.append(f"{op_id}: {exc}")
            return
        report.finished.append(op_id)
        if kind is OperationKind.AUTHORIZE and result.authorization.status == AuthStatus.HELD:
            self._void(
                result.authorization.id,
                f"orphan:{result.authorization.id}",
                report,
                report.voided_orphans,
            )

    def _expire(self, auth_id: str, report: ReconcileReport) -> None:
        self._void(auth_id, f"expire:{auth_id}", report, report.expired)

    def _void(self, auth_id: str, key: str, report: ReconcileReport, into: list[str]) -> None:
        try:
            result = self.service.void(authorization_id=auth_id, idempotency_key=key)
        except (ProcessorUnavailableError, OperationInProgressError):
            report.still_unknown.append(auth_id)
            return
        except PaymentsError as exc:
            report.errors.append(f"{auth_id}: {exc}")
            return
        if result.authorization.status == AuthStatus.VOIDED:
            into.append(auth_id)


def pending_intents(engine: Engine, older_than: datetime) -> list[str]:
    """Operations sent (or about to be) whose outcome was never recorded."""
    with Session(engine) as session:
        return list(
            session.scalars(
                select(Operation.id)
                .where(
                    Operation.status == OpStatus.INTENT.value,
                    Operation.created_at <= older_than,
                )
                .order_by(Operation.created_at)
            )
        )


def expired_holds(engine: Engine, now: datetime) -> list[str]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(Authorization.id).where(
                    Authorization.status == AuthStatus.HELD.value,
                    Authorization.expires_at <= now,
                )
            )
        )

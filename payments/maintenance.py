"""The periodic payments job: finish unknown outcomes, void expired holds, purge old
idempotency records. Run it every minute or so from one worker (safe to run on several:
every step is idempotent and row-locked)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from payments.authorizations.reconcile import Reconciler, ReconcileReport
from payments.authorizations.service import AuthorizationService
from payments.db import utcnow


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    reconcile: ReconcileReport
    idempotency_records_purged: int


def run_maintenance(
    service: AuthorizationService,
    *,
    grace: timedelta = timedelta(seconds=60),
    now: datetime | None = None,
) -> MaintenanceReport:
    """``grace`` should exceed the processors' request timeout, so an operation still in
    flight is not mistaken for a lost one."""
    now = now or utcnow()
    reconciled = Reconciler(service, grace=grace).run_once(now)
    purged = service.idempotency.purge(now)
    return MaintenanceReport(reconciled, purged)

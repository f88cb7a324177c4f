from __future__ import annotations

import uuid
from datetime import timedelta

from conftest import PaymentsEnv

from payments.db import utcnow
from payments.maintenance import run_maintenance
from payments.money import Money


def test_maintenance_voids_expired_holds_and_purges_old_keys(payments_env: PaymentsEnv) -> None:
    env = payments_env
    held = env.service.hold(
        payment_method_id=env.link(),
        amount=Money(400, "USD"),
        merchant_ref="m",
        idempotency_key=uuid.uuid4().hex,
    )
    soon = run_maintenance(env.service, grace=timedelta(0))
    assert soon.reconcile.expired == [] and soon.idempotency_records_purged == 0
    later = run_maintenance(env.service, grace=timedelta(0), now=utcnow() + timedelta(days=8))
    assert later.reconcile.expired == [held.authorization.id]
    assert later.idempotency_records_purged >= 1

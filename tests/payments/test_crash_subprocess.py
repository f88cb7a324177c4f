"""A real process death between the processor call and the commit, then reconciliation."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import PaymentsEnv
from sandbox_network_server import API_KEY, REQUESTOR_ID
from test_crash_recovery import assert_agreement

from payments.authorizations.reconcile import Reconciler
from payments.authorizations.service import CrashPoint
from payments.money import Money
from payments.processor import OperationKind

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.mark.parametrize("point", list(CrashPoint))
@pytest.mark.parametrize("kind", [OperationKind.CAPTURE, OperationKind.REFUND])
def test_killed_process_is_reconciled(
    payments_env: PaymentsEnv, kind: OperationKind, point: CrashPoint
) -> None:
    env = payments_env
    pm = env.link()
    held = env.service.hold(
        payment_method_id=pm,
        amount=Money(2_000, "USD"),
        merchant_ref="m-1",
        idempotency_key=uuid.uuid4().hex,
    )
    auth_id = held.authorization.id
    if kind is OperationKind.REFUND:
        env.service.capture(
            authorization_id=auth_id, amount=Money(1_500, "USD"), idempotency_key=uuid.uuid4().hex
        )
    key = uuid.uuid4().hex
    child = subprocess.run(
        [sys.executable, str(HERE / "crash_child.py")],
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CRASH_DB": env.engine.url.render_as_string(hide_password=False),
            "CRASH_SANDBOX": env.sandbox.url,
            "CRASH_REQUESTOR": REQUESTOR_ID,
            "CRASH_API_KEY": API_KEY,
            "CRASH_KIND": kind.value,
            "CRASH_POINT": point.value,
            "CRASH_AUTH": auth_id,
            "CRASH_KEY": key,
            "CRASH_AMOUNT": "1200",
        },
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 137, child.stderr.decode()[-2000:]

    report = Reconciler(env.service, grace=timedelta(0)).run_once()
    assert report.finished and not report.errors and not report.still_unknown
    before = assert_agreement(env, pm)
    # the caller retries with its key: nothing happens twice
    if kind is OperationKind.CAPTURE:
        again = env.service.capture(
            authorization_id=auth_id, amount=Money(1_200, "USD"), idempotency_key=key
        )
    else:
        again = env.service.refund(
            authorization_id=auth_id, amount=Money(1_200, "USD"), idempotency_key=key
        )
    assert again.approved
    assert assert_agreement(env, pm) == before

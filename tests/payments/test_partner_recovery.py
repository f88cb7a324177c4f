"""Crash injection with the partner processor (harness in test_stripe_recovery.py): after
reconciliation our authorization, the ledger and the sandbox network agree, and a retry
with the same key applies nothing twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from test_partner_processor import (
    link_partner_card,
    partner_processor,
    serving_partner_sandbox,
)
from test_stripe_recovery import KINDS, ProcessorSide, run_crash_scenario

from payments.authorizations.service import CrashPoint
from payments.processor import OperationKind


@pytest.fixture(scope="module")
def partner_side() -> Iterator[ProcessorSide]:
    with serving_partner_sandbox() as sandbox:
        processor = partner_processor(sandbox)

        def snapshot(ref: str) -> tuple[str, int, int, int]:
            with sandbox.network.lock:
                auth = sandbox.network.authorizations[ref]
                return auth.status, auth.authorized, auth.captured, auth.refunded

        yield ProcessorSide(processor, lambda: link_partner_card(sandbox, processor), snapshot)
        processor.close()


@pytest.mark.parametrize("point", list(CrashPoint))
@pytest.mark.parametrize("kind", KINDS)
def test_partner_crash_between_call_and_commit(
    sqlite_engine: Engine, partner_side: ProcessorSide, kind: OperationKind, point: CrashPoint
) -> None:
    run_crash_scenario(sqlite_engine, partner_side, kind, point)


def test_partner_crash_recovery_on_each_database(
    engine: Engine, partner_side: ProcessorSide
) -> None:
    run_crash_scenario(engine, partner_side, OperationKind.AUTHORIZE, CrashPoint.BEFORE_COMMIT)

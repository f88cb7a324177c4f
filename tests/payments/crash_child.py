"""Run one payment step in a child process that dies (os._exit) at an injected point.

Used by test_crash_subprocess.py: a real process death, not an exception.
"""

from __future__ import annotations

import os
import sys

from payments.authorizations.service import AuthorizationService, CrashPoint
from payments.db import create_payments_engine
from payments.methods import CredentialCipher, PaymentMethodStore
from payments.money import Money
from payments.processor import OperationKind
from payments.processors.sandbox import SandboxProcessor

KILLED_EXIT_CODE = 137


def main() -> int:
    env = os.environ
    kind, point = OperationKind(env["CRASH_KIND"]), CrashPoint(env["CRASH_POINT"])

    def die(k: OperationKind, p: CrashPoint) -> None:
        if (k, p) == (kind, point):
            os._exit(KILLED_EXIT_CODE)  # no cleanup, no rollback, no goodbye

    engine = create_payments_engine(env["CRASH_DB"])
    processor = SandboxProcessor(
        base_url=env["CRASH_SANDBOX"],
        requestor_id=env["CRASH_REQUESTOR"],
        api_key=env["CRASH_API_KEY"],
        merchant_id="m-1",
    )
    methods = PaymentMethodStore(engine, CredentialCipher(CredentialCipher.generate_key()))
    service = AuthorizationService(engine, {"sandbox": processor}, methods, crash_hook=die)
    amount = Money(int(env["CRASH_AMOUNT"]), "USD")
    if kind is OperationKind.CAPTURE:
        service.capture(
            authorization_id=env["CRASH_AUTH"], amount=amount, idempotency_key=env["CRASH_KEY"]
        )
    else:
        service.refund(
            authorization_id=env["CRASH_AUTH"], amount=amount, idempotency_key=env["CRASH_KEY"]
        )
    return 0  # reaching here means the crash point was never hit


if __name__ == "__main__":
    sys.exit(main())

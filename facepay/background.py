"""Background work inside ``facepay serve``: finish what was interrupted, expire what waits.

At start, build every site's gallery (so the first customer of a large site does not
wait for it). Then, each round: payments reconciles operations with unknown outcomes
and purges old idempotency keys; purchases whose close was recorded are settled;
purchases past their deadline are expired and their holds voided; stale step-up
challenges are deleted. Every step is idempotent, so every API node may run them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from anyio import to_thread
from sqlalchemy.orm import Session, sessionmaker

from facepay.checkout.closing import PurchaseClosing
from facepay.checkout.expiry import PurchaseExpiry
from facepay.checkout.step_ups import StepUpChallenges
from facepay.identification.service import IdentificationService
from payments.authorizations.service import AuthorizationService
from payments.maintenance import run_maintenance

log = logging.getLogger(__name__)

RECOVERY_INTERVAL_S = 30.0


@dataclass(frozen=True)
class Recovery:
    sessions: sessionmaker[Session]
    authorizations: AuthorizationService
    closing: PurchaseClosing
    expiry: PurchaseExpiry
    step_ups: StepUpChallenges
    identification: IdentificationService

    def run_once(self) -> None:
        steps: list[tuple[str, Callable[[], object]]] = [
            ("payments maintenance", lambda: run_maintenance(self.authorizations)),
            ("settling closed purchases", self.closing.settle_unsettled),
            ("expiring purchases", self.expiry.expire_overdue),
            ("purging step-up challenges", self._purge_step_ups),
        ]
        for name, step in steps:
            try:  # one failing step must not keep the others from running
                step()
            except Exception:
                log.exception("%s failed; the next round tries again", name)

    def _purge_step_ups(self) -> int:
        with self.sessions.begin() as session:
            return self.step_ups.purge_expired(session)

    async def run_forever(self, interval_s: float = RECOVERY_INTERVAL_S) -> None:
        try:
            await to_thread.run_sync(self.identification.warm)
        except Exception:  # not ready yet (no schema): galleries build on first use
            log.exception("warming the galleries failed")
        while True:
            await to_thread.run_sync(self.run_once)
            await anyio.sleep(interval_s)

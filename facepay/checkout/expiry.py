"""Purchases that never reach their next step in time: expired, their hold voided.

A cabinet that loses power after an unlock, a customer who walks away at the step-up
keypad, a processor that never answers a hold: each would otherwise keep the customer's
card hold for its whole lifetime (days). The recovery loop calls ``expire_overdue``;
moving to ``expired`` and voiding the hold are two steps, so a crash between them is
finished by ``release_expired_holds`` on the next round.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cabinet_runtime.protocol import IdentifyResult
from facepay.cabinets.delivery import CabinetLink, send_all
from facepay.checkout.charging import PurchasePayments
from facepay.checkout.closing import verified_phone
from facepay.checkout.identify import EXPIRED
from facepay.checkout.models import PurchaseSession
from facepay.checkout.purchases import PurchaseBook
from facepay.checkout.states import WAITING, PurchaseState
from facepay.notifications import NotificationProvider

log = logging.getLogger(__name__)

HOLD_RELEASED = "FacePay: your visit ended without a purchase; the hold on your card is released."


@dataclass(frozen=True)
class PurchaseExpiry:
    sessions: sessionmaker[Session]
    book: PurchaseBook
    payments: PurchasePayments
    notifier: NotificationProvider
    link: CabinetLink

    def expire_overdue(self) -> int:
        """Expire every waiting purchase past its deadline; returns how many."""
        with self.sessions() as session:
            overdue = session.execute(
                select(PurchaseSession.id, PurchaseSession.state).where(
                    PurchaseSession.state.in_([s.value for s in WAITING]),
                    PurchaseSession.deadline_at <= self.book.clock(),
                )
            ).all()
        expired = 0
        for purchase_id, state in overdue:
            moved = self.book.move(
                purchase_id,
                PurchaseState.EXPIRED,
                reason=f"no next step in time ({state})",
                expect=frozenset({PurchaseState(state)}),
            )
            if moved is None:
                continue  # it moved on meanwhile
            expired += 1
            send_all(
                self.link,
                moved.cabinet_id,
                [
                    IdentifyResult(
                        session_id=moved.cabinet_session_id, decision="deny", reason=EXPIRED
                    )
                ],
            )
        self.release_expired_holds()
        return expired

    def release_expired_holds(self) -> int:
        with self.sessions() as session:
            pending = session.execute(
                select(PurchaseSession.id, PurchaseSession.authorization_ref).where(
                    PurchaseSession.state == PurchaseState.EXPIRED,
                    PurchaseSession.authorization_ref.is_not(None),
                    PurchaseSession.hold_released_at.is_(None),
                )
            ).all()
        for purchase_id, authorization_id in pending:
            assert authorization_id is not None  # selected so
            try:
                self.payments.release(purchase_id, authorization_id)
            except Exception:  # the next round tries again
                log.exception("voiding the hold of expired purchase %s failed", purchase_id)
                continue
            with self.sessions.begin() as session:
                purchase = session.get(PurchaseSession, purchase_id, with_for_update=True)
                if purchase is None or purchase.hold_released_at is not None:
                    continue
                purchase.hold_released_at = self.book.clock()
                phone = verified_phone(session, purchase.customer_id)
                if phone is not None:
                    self.notifier.send(
                        session, recipient=phone, kind="hold_released", body=HOLD_RELEASED
                    )
        return len(pending)

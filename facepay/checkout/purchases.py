"""The persisted purchases: opening one, finding one, and moving one through its states.

Every move goes through ``PurchaseBook.move`` in its own transaction, so each step is
durable before anyone is told about it. ``after_move`` is called once a move has
committed; tests use it to crash the process at every transition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from facepay.checkout import states
from facepay.checkout.models import PurchaseSession, PurchaseTransition
from facepay.checkout.states import PurchaseState
from facepay.errors import NotFoundError

Clock = Callable[[], datetime]
AfterMove = Callable[[str, PurchaseState], None]


@dataclass(frozen=True)
class PurchaseLimits:
    """How long a purchase may wait in each state before it expires."""

    identifying: timedelta = timedelta(minutes=2)
    step_up: timedelta = timedelta(minutes=1)
    authorizing: timedelta = timedelta(minutes=2)
    unlocked: timedelta = timedelta(minutes=20)
    in_review: timedelta = timedelta(days=1)

    def by_state(self) -> Mapping[PurchaseState, timedelta]:
        return {
            PurchaseState.IDENTIFYING: self.identifying,
            PurchaseState.STEP_UP: self.step_up,
            PurchaseState.AUTHORIZING: self.authorizing,
            PurchaseState.UNLOCKED: self.unlocked,
            PurchaseState.IN_REVIEW: self.in_review,
        }


def _no_hook(_purchase_id: str, _state: PurchaseState) -> None:
    return None


@dataclass(frozen=True)
class PurchaseBook:
    sessions: sessionmaker[Session]
    clock: Clock
    limits: PurchaseLimits = PurchaseLimits()
    after_move: AfterMove = field(default=_no_hook)

    def find(
        self, session: Session, cabinet_id: str, cabinet_session_id: str
    ) -> PurchaseSession | None:
        return session.scalar(
            select(PurchaseSession)
            .where(
                PurchaseSession.cabinet_id == cabinet_id,
                PurchaseSession.cabinet_session_id == cabinet_session_id,
            )
            .with_for_update()
        )

    def open(
        self, cabinet_id: str, cabinet_session_id: str, *, auth_method: str, currency: str
    ) -> tuple[PurchaseSession, bool]:
        """The cabinet session's purchase, and whether it was opened just now (False for a
        resent identify, which must get the same answer)."""
        for _ in range(2):  # the same identify, handled concurrently: the loser reads it
            try:
                with self.sessions.begin() as session:
                    existing = self.find(session, cabinet_id, cabinet_session_id)
                    if existing is not None:
                        session.expunge(existing)
                        return existing, False
                    now = self.clock()
                    purchase = PurchaseSession(
                        cabinet_id=cabinet_id,
                        cabinet_session_id=cabinet_session_id,
                        auth_method=auth_method,
                        state=PurchaseState.IDENTIFYING,
                        deadline_at=now + self.limits.identifying,
                        currency=currency,
                        opened_at=now,
                    )
                    session.add(purchase)
                    session.flush()
                    session.add(
                        PurchaseTransition(
                            purchase_id=purchase.id,
                            from_state=None,
                            to_state=PurchaseState.IDENTIFYING,
                            reason=f"identify by {auth_method}",
                            at=now,
                        )
                    )
                    session.flush()
                    session.expunge(purchase)
                self.after_move(purchase.id, PurchaseState.IDENTIFYING)
                return purchase, True
            except IntegrityError:
                continue
        raise NotFoundError(f"purchase for cabinet session {cabinet_session_id} vanished")

    def get(self, purchase_id: str) -> PurchaseSession:
        with self.sessions() as session:
            purchase = session.get(PurchaseSession, purchase_id)
            if purchase is None:
                raise NotFoundError(f"no purchase {purchase_id}")
            session.expunge(purchase)
            return purchase

    def move(
        self,
        purchase_id: str,
        target: PurchaseState,
        *,
        reason: str,
        expect: frozenset[PurchaseState] | None = None,
        **values: object,
    ) -> PurchaseSession | None:
        """Move the purchase and set ``values`` on it in one transaction. With ``expect``,
        a purchase found in another state is left alone and None returned (another node
        or a resent message got there first)."""
        with self.sessions.begin() as session:
            purchase = session.get(PurchaseSession, purchase_id, with_for_update=True)
            if purchase is None:
                raise NotFoundError(f"no purchase {purchase_id}")
            if expect is not None and PurchaseState(purchase.state) not in expect:
                return None
            self.move_in(session, purchase, target, reason=reason, **values)
            session.flush()
            session.expunge(purchase)
        self.after_move(purchase_id, target)
        return purchase

    def move_in(
        self,
        session: Session,
        purchase: PurchaseSession,
        target: PurchaseState,
        *,
        reason: str,
        **values: object,
    ) -> None:
        """A move inside the caller's transaction (with other writes that must commit
        with it); the caller calls ``after_move`` once committed."""
        for name, value in values.items():
            setattr(purchase, name, value)
        states.move(
            session,
            purchase,
            target,
            reason=reason,
            at=self.clock(),
            limits=self.limits.by_state(),
        )

    def history(self, purchase_id: str) -> list[tuple[str | None, str, str]]:
        with self.sessions() as session:
            rows = session.execute(
                select(
                    PurchaseTransition.from_state,
                    PurchaseTransition.to_state,
                    PurchaseTransition.reason,
                )
                .where(PurchaseTransition.purchase_id == purchase_id)
                .order_by(PurchaseTransition.id)
            ).all()
        return [(r[0], r[1], r[2]) for r in rows]

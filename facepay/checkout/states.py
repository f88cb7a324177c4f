"""The purchase as a state machine: its states, the allowed moves, and the one function
that makes a move.

Every move is persisted on the purchase (its state, and the deadline for the next step)
and recorded as a ``PurchaseTransition`` row with its time and reason, in the caller's
transaction. A move the table does not allow raises ``IllegalTransitionError`` and
changes nothing.

::

    identifying ──► step_up ──► authorizing ──► unlocked ──► closed ──► settled
         │             │             │              │
         │             │             │              └──► in_review ──► expired
         └─────────────┴─────────────┴──► denied    └──► expired ──► closed (a late close)
         └─────────────┴─────────────┴──► expired
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from sqlalchemy.orm import Session

from facepay.checkout.models import PurchaseSession, PurchaseTransition
from facepay.errors import FacePayError


class PurchaseState(StrEnum):
    IDENTIFYING = "identifying"  # opened by the cabinet's identify
    STEP_UP = "step_up"  # waiting for the last four digits of the customer's phone
    AUTHORIZING = "authorizing"  # customer known; the hold is being placed
    UNLOCKED = "unlocked"  # hold placed, signed unlock sent; the door may open
    CLOSED = "closed"  # basket recorded; charging
    IN_REVIEW = "in_review"  # the reported basket failed the server's checks: not charged
    SETTLED = "settled"  # charged (or voided), stock and receipt written
    DENIED = "denied"  # refused before the door opened
    EXPIRED = "expired"  # no next step in time; the hold is voided


TRANSITIONS: Mapping[PurchaseState, frozenset[PurchaseState]] = MappingProxyType(
    {
        PurchaseState.IDENTIFYING: frozenset(
            {
                PurchaseState.STEP_UP,
                PurchaseState.AUTHORIZING,
                PurchaseState.DENIED,
                PurchaseState.EXPIRED,
            }
        ),
        PurchaseState.STEP_UP: frozenset(
            {PurchaseState.AUTHORIZING, PurchaseState.DENIED, PurchaseState.EXPIRED}
        ),
        PurchaseState.AUTHORIZING: frozenset(
            {PurchaseState.UNLOCKED, PurchaseState.DENIED, PurchaseState.EXPIRED}
        ),
        PurchaseState.UNLOCKED: frozenset(
            {PurchaseState.CLOSED, PurchaseState.IN_REVIEW, PurchaseState.EXPIRED}
        ),
        PurchaseState.CLOSED: frozenset({PurchaseState.SETTLED}),
        PurchaseState.IN_REVIEW: frozenset({PurchaseState.EXPIRED}),
        # A cabinet that lost its link closes late from its durable outbox: the goods were
        # taken, so the close is still recorded (and charged without the voided hold).
        PurchaseState.EXPIRED: frozenset({PurchaseState.CLOSED, PurchaseState.IN_REVIEW}),
        PurchaseState.SETTLED: frozenset(),
        PurchaseState.DENIED: frozenset(),
    }
)

# Nothing more can happen to a purchase in these states; the rest expire.
FINAL: frozenset[PurchaseState] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
# States waiting on the cabinet or the customer, with a deadline; CLOSED waits on payments,
# which the recovery loop retries instead.
WAITING: frozenset[PurchaseState] = frozenset(
    {
        PurchaseState.IDENTIFYING,
        PurchaseState.STEP_UP,
        PurchaseState.AUTHORIZING,
        PurchaseState.UNLOCKED,
        PurchaseState.IN_REVIEW,
    }
)


class IllegalTransitionError(FacePayError):
    title = "Illegal purchase transition"


def allowed(source: PurchaseState, target: PurchaseState) -> bool:
    return target in TRANSITIONS[source]


def move(
    session: Session,
    purchase: PurchaseSession,
    target: PurchaseState,
    *,
    reason: str,
    at: datetime,
    limits: Mapping[PurchaseState, timedelta],
) -> None:
    """Move ``purchase`` to ``target`` and record it; the caller commits."""
    source = PurchaseState(purchase.state)
    if not allowed(source, target):
        raise IllegalTransitionError(f"purchase {purchase.id}: {source} → {target} is not allowed")
    purchase.state = target
    limit = limits.get(target)
    purchase.deadline_at = at + limit if limit is not None else None
    session.add(
        PurchaseTransition(
            purchase_id=purchase.id,
            from_state=source,
            to_state=target,
            reason=reason[:200],
            at=at,
        )
    )
    session.flush()

"""States, timeouts and the persisted snapshot of the cabinet's session machine."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Protocol

import msgspec

from cabinet_runtime import protocol as p
from cabinet_runtime.picks.planogram import LanePlan, Planogram, ShelfPlan
from cabinet_runtime.picks.recognizer import PickResult
from cabinet_runtime.picks.recording import SessionRecording


class Recognizer(Protocol):
    @property
    def planogram(self) -> Planogram: ...

    def recognize(self, recording: SessionRecording) -> PickResult: ...


class Outgoing(Protocol):
    def put(self, message: p.Message) -> str: ...


class SessionState(enum.StrEnum):
    IDLE = "idle"
    IDENTIFYING = "identifying"
    STEP_UP = "step_up"
    UNLOCKED = "unlocked"
    DOOR_OPEN = "door_open"
    DOOR_CLOSED = "door_closed"
    SETTLING = "settling"
    MAINTENANCE = "maintenance"


# States in which the customer may legitimately have the door open or about to open.
DOOR_MAY_OPEN = frozenset({SessionState.UNLOCKED, SessionState.DOOR_OPEN})
# States of a purchase that has physical consequences and must be finished.
PHYSICAL = frozenset({SessionState.UNLOCKED, SessionState.DOOR_OPEN, SessionState.DOOR_CLOSED})


@dataclass(frozen=True)
class Timeouts:
    identify_s: float = 20.0  # no identify_result / unlock after identify
    step_up_s: float = 30.0  # no digits typed
    unlock_s: float = 15.0  # unlocked but never opened: relock
    door_open_alarm_s: float = 60.0  # door open too long: alarm
    settle_s: float = 30.0  # waiting for session_settled before going idle
    cold_chain_limit_c: float = 5.0
    cold_chain_s: float = 30 * 60.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if name != "cold_chain_limit_c" and value <= 0:
                raise ValueError(f"timeout {name} must be positive")


class SessionSnapshot(msgspec.Struct, kw_only=True):
    """What the local store keeps so a restart can finish the session."""

    state: SessionState
    session_id: str | None = None
    approved: bool = False
    alarm: bool = False
    recovered: bool = False  # resumed after a restart


class Lockout(msgspec.Struct, frozen=True, kw_only=True):
    reason: str
    since_wall: float


# session_closed ids derive from the session id: if the runtime dies between
# queueing the message and saving its new state, the recovered session queues
# the same id again, which the outbox (and the server) treat as one message.
_CLOSED_NAMESPACE = uuid.UUID("5f0c3a52-8a4e-4c1e-9d55-2b7f0e6d4a11")


def session_closed_id(session_id: str) -> str:
    return str(uuid.uuid5(_CLOSED_NAMESPACE, session_id))


def session_closed(session_id: str, result: PickResult | None, recovered: bool) -> p.SessionClosed:
    """The wire message for a finished session (``None``: the door never opened)."""
    if result is None:
        return p.SessionClosed(
            id=session_closed_id(session_id),
            session_id=session_id,
            lines=(),
            review=False,
            totals=p.RecognisedTotals(items=0, weight_delta_g=0.0),
            recovered=recovered,
        )
    lines = tuple(
        p.BasketLine(
            lane=line.lane,
            sku=line.sku,
            qty=line.qty,
            confidence=min(1.0, max(0.0, line.confidence)),
        )
        for line in result.lines
        if line.qty > 0
    )
    amount = sum(line.qty * line.unit_price for line in result.lines if line.qty > 0)
    weight = sum(s.delta_g for s in result.shelves if s.delta_g is not None)
    return p.SessionClosed(
        id=session_closed_id(session_id),
        session_id=session_id,
        lines=lines,
        review=result.review,
        totals=p.RecognisedTotals(
            items=sum(line.qty for line in lines),
            weight_delta_g=round(weight, 1),
            amount_minor=amount,
            currency=result.currency,
        ),
        confidence=min(1.0, max(0.0, result.confidence)),
        recovered=recovered,
    )


def restocked(planogram: Planogram, stock: dict[str, dict[str, int]]) -> Planogram:
    """The planogram with lane counts from recognition (what the shelves now hold).

    A lane keeps its planned SKU; its count is what recognition says of that SKU.
    """
    shelves = [
        ShelfPlan(
            shelf.id,
            [
                LanePlan(lane.id, lane.sku, stock.get(lane.id, {}).get(lane.sku, lane.count))
                for lane in shelf.lanes
            ],
        )
        for shelf in planogram.shelves
    ]
    return Planogram(currency=planogram.currency, products=planogram.products, shelves=shelves)


def lane_stock(planogram: Planogram) -> tuple[p.LaneStock, ...]:
    return tuple(
        p.LaneStock(lane=lane.id, sku=lane.sku, count=lane.count)
        for shelf in planogram.shelves
        for lane in shelf.lanes
    )


def current_planogram(configured: Planogram, stored: Planogram) -> Planogram:
    """Stored counts while the layout is the configured one; a changed layout
    in the config (re-planned, restocked) wins over what was stored."""

    def layout(planogram: Planogram) -> list[tuple[str, list[tuple[str, str]]]]:
        return [(s.id, [(lane.id, lane.sku) for lane in s.lanes]) for s in planogram.shelves]

    return stored if layout(stored) == layout(configured) else configured

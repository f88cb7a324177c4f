"""Test doubles for the edges of the server: real implementations of the interfaces,
kept in memory so a test can look inside and make them misbehave."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cabinet_runtime.protocol import ServerMessage, decode_from_server
from payments.money import Money
from payments.processor import (
    DeclineCode,
    LinkSession,
    OperationKind,
    Outcome,
    OutcomeStatus,
    PaymentMethod,
)


class FakeClock:
    """An injected clock: tests move time instead of sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class InMemoryCabinetLink:
    """The cabinet link as a list of what each cabinet was sent, decoded."""

    def __init__(self) -> None:
        self.sent: dict[str, list[ServerMessage]] = defaultdict(list)
        self._lock = threading.Lock()

    def send(self, cabinet_id: str, payload: bytes) -> None:
        with self._lock:
            self.sent[cabinet_id].append(decode_from_server(payload))

    def take(self, cabinet_id: str) -> list[ServerMessage]:
        with self._lock:
            messages, self.sent[cabinet_id] = self.sent[cabinet_id], []
        return messages


@dataclass
class _Hold:
    method: PaymentMethod
    held: int
    currency: str
    state: str = "held"  # held|captured|voided
    captured: int = 0


@dataclass
class InMemoryProcessor:
    """A card processor with a credit limit per token; idempotent by key, like a real one."""

    name: str = "memory"
    limit: int = 1_000_000
    decline_increments: bool = False
    holds: dict[str, _Hold] = field(default_factory=dict)
    _seen: dict[tuple[OperationKind, str], Outcome] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    calls: list[tuple[OperationKind, str]] = field(default_factory=list)

    def link_method(self, last4: str = "4242") -> PaymentMethod:
        return PaymentMethod(self.name, f"tok_{next(self._ids)}", "visa", last4, 12, 2030)

    def begin_link(
        self, *, customer_ref: str, return_url: str, idempotency_key: str
    ) -> LinkSession:
        return LinkSession(setup_ref=f"setup_{customer_ref}", redirect_url=return_url)

    def complete_link(self, *, setup_ref: str, idempotency_key: str) -> PaymentMethod:
        return self.link_method()

    def _once(self, kind: OperationKind, key: str, act: object) -> Outcome:
        self.calls.append((kind, key))
        if (kind, key) not in self._seen:
            self._seen[(kind, key)] = act()  # type: ignore[operator]
        return self._seen[(kind, key)]

    def _outcome(
        self, kind: OperationKind, key: str, ref: str | None, amount: Money, **kw: object
    ) -> Outcome:
        return Outcome(kind, OutcomeStatus.APPROVED, key, ref, amount, **kw)  # type: ignore[arg-type]

    def _declined(
        self, kind: OperationKind, key: str, ref: str | None, amount: Money, code: DeclineCode
    ) -> Outcome:
        return Outcome(kind, OutcomeStatus.DECLINED, key, ref, amount, decline_code=code)

    def authorize(
        self,
        *,
        payment_method: PaymentMethod,
        amount: Money,
        merchant_ref: str,
        idempotency_key: str,
    ) -> Outcome:
        def act() -> Outcome:
            kind = OperationKind.AUTHORIZE
            if amount.amount > self.limit:
                return self._declined(
                    kind, idempotency_key, None, amount, DeclineCode.INSUFFICIENT_FUNDS
                )
            ref = f"auth_{next(self._ids)}"
            self.holds[ref] = _Hold(payment_method, amount.amount, amount.currency)
            return self._outcome(kind, idempotency_key, ref, amount, authorized=amount)

        return self._once(OperationKind.AUTHORIZE, idempotency_key, act)

    def increment_authorization(
        self, *, authorization_ref: str, additional: Money, idempotency_key: str
    ) -> Outcome:
        def act() -> Outcome:
            kind = OperationKind.INCREMENT
            hold = self.holds[authorization_ref]
            if self.decline_increments or hold.held + additional.amount > self.limit:
                return self._declined(
                    kind,
                    idempotency_key,
                    authorization_ref,
                    additional,
                    DeclineCode.INSUFFICIENT_FUNDS,
                )
            hold.held += additional.amount
            total = Money(hold.held, hold.currency)
            return self._outcome(
                kind, idempotency_key, authorization_ref, additional, authorized=total
            )

        return self._once(OperationKind.INCREMENT, idempotency_key, act)

    def capture(self, *, authorization_ref: str, amount: Money, idempotency_key: str) -> Outcome:
        def act() -> Outcome:
            kind = OperationKind.CAPTURE
            hold = self.holds[authorization_ref]
            if hold.state != "held" or amount.amount > hold.held:
                return self._declined(
                    kind,
                    idempotency_key,
                    authorization_ref,
                    amount,
                    DeclineCode.AUTHORIZATION_NOT_ACTIVE,
                )
            hold.state, hold.captured = "captured", amount.amount
            return self._outcome(kind, idempotency_key, authorization_ref, amount, captured=amount)

        return self._once(OperationKind.CAPTURE, idempotency_key, act)

    def void(self, *, authorization_ref: str, idempotency_key: str) -> Outcome:
        def act() -> Outcome:
            hold = self.holds[authorization_ref]
            amount = Money(hold.held, hold.currency)
            if hold.state != "held":
                return self._declined(
                    OperationKind.VOID,
                    idempotency_key,
                    authorization_ref,
                    amount,
                    DeclineCode.AUTHORIZATION_NOT_ACTIVE,
                )
            hold.state = "voided"
            return self._outcome(OperationKind.VOID, idempotency_key, authorization_ref, amount)

        return self._once(OperationKind.VOID, idempotency_key, act)

    def refund(self, *, authorization_ref: str, amount: Money, idempotency_key: str) -> Outcome:
        def act() -> Outcome:
            return self._outcome(
                OperationKind.REFUND, idempotency_key, authorization_ref, amount, refunded=amount
            )

        return self._once(OperationKind.REFUND, idempotency_key, act)

    def query_operation(
        self, *, kind: OperationKind, idempotency_key: str, authorization_ref: str | None = None
    ) -> Outcome | None:
        return self._seen.get((kind, idempotency_key))

    # what a test asks the bank
    def open_holds(self) -> list[str]:
        return [ref for ref, hold in self.holds.items() if hold.state == "held"]

    def captured_total(self) -> int:
        return sum(hold.captured for hold in self.holds.values())

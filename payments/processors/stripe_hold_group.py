"""A Stripe hold as FacePay sees it: the original PaymentIntent plus any second charges.

When a card cannot be incrementally authorized, a basket larger than the hold is
covered by a second manual-capture PaymentIntent on the same card and customer. The
original intent lists these in its metadata, so the whole group travels under one
authorization_ref. Captures and refunds are spread over the group greedily in a
fixed order (original first), computed from amounts a retry sees unchanged, so every
per-intent request, and with it its Idempotency-Key, is the same on a retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from payments.money import Money
from payments.processor import OperationKind, Outcome, OutcomeStatus
from payments.processors.stripe_outcomes import KEY_METADATA, field, metadata_value, money

EXPAND_CHARGE = ["latest_charge"]
EXTRAS_METADATA = "facepay_extra_holds"
SECOND_CHARGE_FOR = "facepay_second_charge_for"
PART_METADATA = "facepay_part"


def extra_ids(original: Any) -> list[str]:
    raw = metadata_value(original, EXTRAS_METADATA)
    return [intent_id for intent_id in (raw or "").split(",") if intent_id]


def allocate(amount: int, capacities: Sequence[int]) -> list[int] | None:
    """Split `amount` over `capacities` in order; None when it does not fit."""
    parts, left = [], amount
    for capacity in capacities:
        take = min(max(capacity, 0), left)
        parts.append(take)
        left -= take
    return None if left else parts


def refunded_on(intent: Any) -> int:
    charge = field(intent, "latest_charge")
    if charge is None or isinstance(charge, str):
        return 0
    return int(charge.amount_refunded)


@dataclass(frozen=True)
class HoldGroup:
    intents: tuple[Any, ...]  # the original first, then second charges in order

    @property
    def original(self) -> Any:
        return self.intents[0]

    @property
    def currency(self) -> str:
        return str(self.original.currency)

    def total(self, name: str) -> Money:
        return money(sum(int(getattr(i, name)) for i in self.intents), self.currency)

    @property
    def refunded(self) -> Money:
        return money(sum(refunded_on(i) for i in self.intents), self.currency)

    @property
    def settled(self) -> bool:
        """No part of the hold is still waiting for capture."""
        return all(i.status != "requires_capture" for i in self.intents)

    @property
    def canceled(self) -> bool:
        return all(i.status == "canceled" for i in self.intents)

    def with_intent(self, index: int, intent: Any) -> HoldGroup:
        intents = list(self.intents)
        if index == len(intents):
            intents.append(intent)
        else:
            intents[index] = intent
        return HoldGroup(tuple(intents))

    def approved(self, kind: OperationKind, key: str, amount: Money) -> Outcome:
        """An approved outcome carrying the group's totals after the operation."""
        return Outcome(
            kind=kind,
            status=OutcomeStatus.APPROVED,
            idempotency_key=key,
            authorization_ref=str(self.original.id),
            amount=amount,
            authorized=self.total("amount"),
            captured=self.total("amount_received"),
            refunded=self.refunded,
        )


class HoldGroupReader:
    """Loads hold groups and their refunds through a StripeClient's v1 services."""

    def __init__(self, v1: Any) -> None:
        self._v1 = v1

    def retrieve(self, intent_id: str) -> Any:
        return self._v1.payment_intents.retrieve(intent_id, {"expand": EXPAND_CHARGE})

    def group(self, authorization_ref: str) -> HoldGroup:
        original = self.retrieve(authorization_ref)
        return HoldGroup((original, *(self.retrieve(i) for i in extra_ids(original))))

    def refunds(self, intent: Any, idempotency_key: str) -> list[Any]:
        """The refunds on one intent that carry our idempotency key."""
        listed = self._v1.refunds.list({"payment_intent": str(intent.id), "limit": 100})
        return [r for r in listed.data if metadata_value(r, KEY_METADATA) == idempotency_key]

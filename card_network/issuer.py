"""The sandbox issuer: card accounts whose credit holds and captures really move."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from card_network.cards import CARDS_BY_PAN, Behaviour, brand_of
from payments.processor import DeclineCode

BEHAVIOUR_DECLINES = {
    Behaviour.INSUFFICIENT_FUNDS: DeclineCode.INSUFFICIENT_FUNDS,
    Behaviour.DO_NOT_HONOR: DeclineCode.DO_NOT_HONOR,
    Behaviour.EXPIRED_CARD: DeclineCode.EXPIRED_CARD,
    Behaviour.LOST_OR_STOLEN: DeclineCode.LOST_OR_STOLEN,
}


@dataclass(slots=True)
class CardAccount:
    pan: str
    brand: str
    behaviour: Behaviour
    limit: int
    held: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    posted: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def available(self, currency: str) -> int:
        return self.limit - self.held[currency] - self.posted[currency]


class Issuer:
    """Card accounts by PAN. Limits apply per currency (a sandbox simplification)."""

    def __init__(self, default_limit: int) -> None:
        self.default_limit = default_limit
        self.cards: dict[str, CardAccount] = {}

    def account(self, pan: str) -> CardAccount:
        card = self.cards.get(pan)
        if card is None:
            known = CARDS_BY_PAN.get(pan)
            behaviour = known.behaviour if known else Behaviour.APPROVE
            limit = known.credit_limit if known and known.credit_limit is not None else None
            card = CardAccount(
                pan=pan,
                brand=known.brand if known else brand_of(pan),
                behaviour=behaviour,
                limit=self.default_limit if limit is None else limit,
            )
            self.cards[pan] = card
        return card

    def set_limit(self, pan: str, limit: int) -> CardAccount:
        card = self.account(pan)
        card.limit = limit
        return card

    def decide(self, card: CardAccount, currency: str, amount: int) -> DeclineCode | None:
        """Approve (None) or decline a new hold of ``amount``."""
        code = BEHAVIOUR_DECLINES.get(card.behaviour)
        if code is not None:
            return code
        if amount > card.available(currency):
            return DeclineCode.INSUFFICIENT_FUNDS
        return None

    @staticmethod
    def hold(card: CardAccount, currency: str, amount: int) -> None:
        card.held[currency] += amount

    @staticmethod
    def settle(card: CardAccount, currency: str, held: int, captured: int) -> None:
        """Release a hold of ``held`` and post ``captured`` of it."""
        card.held[currency] -= held
        card.posted[currency] += captured

    @staticmethod
    def refund(card: CardAccount, currency: str, amount: int) -> None:
        card.posted[currency] -= amount

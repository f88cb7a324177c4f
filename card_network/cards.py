"""Test card numbers, Luhn arithmetic and network-token number generation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum


class Behaviour(StrEnum):
    APPROVE = "approve"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    DO_NOT_HONOR = "do_not_honor"
    EXPIRED_CARD = "expired_card"
    LOST_OR_STOLEN = "lost_or_stolen"
    TIMEOUT = "timeout"  # the network applies the request but answers too late
    UNAVAILABLE = "unavailable"  # the network refuses with 503 and applies nothing


@dataclass(frozen=True, slots=True)
class TestCard:
    __test__ = False  # not a pytest class

    pan: str
    brand: str
    behaviour: Behaviour
    credit_limit: int | None = None  # None: the network's default limit


# Every number is Luhn-valid. Expiry is whatever the customer types (must be future).
TEST_CARDS: tuple[TestCard, ...] = (
    TestCard("4242424242424242", "visa", Behaviour.APPROVE),
    TestCard("5555555555554444", "mastercard", Behaviour.APPROVE),
    TestCard("4000000000003410", "visa", Behaviour.APPROVE, credit_limit=5_000),
    TestCard("4000000000009995", "visa", Behaviour.INSUFFICIENT_FUNDS, credit_limit=0),
    TestCard("4000000000000002", "visa", Behaviour.DO_NOT_HONOR),
    TestCard("4000000000000069", "visa", Behaviour.EXPIRED_CARD),
    TestCard("4000000000009987", "visa", Behaviour.LOST_OR_STOLEN),
    TestCard("4000000000000119", "visa", Behaviour.TIMEOUT),
    TestCard("4000000000000127", "visa", Behaviour.UNAVAILABLE),
)
CARDS_BY_PAN = {card.pan: card for card in TEST_CARDS}

# Network tokens come from their own range, never a test card's BIN.
TOKEN_BIN = "489537"  # noqa: S105 - a BIN, not a secret
TOKEN_LENGTH = 16


def luhn_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) >= 12 and luhn_check_digit(number[:-1]) == number[-1]


def brand_of(pan: str) -> str:
    if pan.startswith("4"):
        return "visa"
    if pan[:2] in {"51", "52", "53", "54", "55"} or "2221" <= pan[:4] <= "2720":
        return "mastercard"
    if pan[:2] in {"34", "37"}:
        return "amex"
    return "unknown"


def new_token_number(taken: set[str]) -> str:
    """A fresh Luhn-valid token number that equals no card number or existing token."""
    while True:
        body = TOKEN_BIN + "".join(
            secrets.choice("0123456789") for _ in range(TOKEN_LENGTH - len(TOKEN_BIN) - 1)
        )
        number = body + luhn_check_digit(body)
        if number not in taken:
            return number

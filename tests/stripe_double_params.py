"""Request parameters, errors and test cards of the Stripe *test double*. Not Stripe."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]


class DoubleError(Exception):
    def __init__(self, status: int, type_: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSON = {"error": {"type": type_, "message": message, **extra}}


def invalid(message: str, param: str | None = None, code: str = "parameter_invalid") -> DoubleError:
    return DoubleError(400, "invalid_request_error", message, param=param, code=code)


@dataclass(frozen=True)
class TestCard:
    __test__ = False  # not a pytest class

    brand: str
    last4: str
    decline_code: str | None = None
    error_code: str = "card_declined"
    incremental: bool = True
    # Largest single authorization the issuer approves (None: unlimited).
    limit: int | None = None
    # The double answers only after this many seconds: a network timeout.
    response_delay: float = 0.0


# Names follow Stripe's test tokens where Stripe has one; the rest are the double's own.
TEST_CARDS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("visa", "4242"),
    "pm_card_mastercard": TestCard("mastercard", "4444"),
    "pm_card_amex": TestCard("amex", "8431", incremental=False),
    "pm_card_visa_limit5000": TestCard("visa", "5000", limit=5000),
    "pm_card_amex_limit5000": TestCard("amex", "5001", incremental=False, limit=5000),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard("visa", "9995", "insufficient_funds"),
    "pm_card_chargeDeclinedDoNotHonor": TestCard("visa", "0036", "do_not_honor"),
    "pm_card_chargeDeclinedExpiredCard": TestCard(
        "visa", "0069", "expired_card", error_code="expired_card"
    ),
    "pm_card_chargeDeclinedLostCard": TestCard("visa", "9987", "lost_card"),
    "pm_card_chargeDeclinedStolenCard": TestCard("visa", "9979", "stolen_card"),
    "pm_card_slowNetwork": TestCard("visa", "1117", response_delay=2.0),
}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def as_int(params: JSON, name: str, *, required: bool = False, minimum: int = 1) -> int | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise invalid(f"Missing required param: {name}.", name, "parameter_missing")
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"-?\d+", raw):
        raise invalid(f"Invalid integer: {raw}", name)
    value = int(raw)
    if value < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", name)
    return value


def as_bool(params: JSON, name: str) -> bool:
    raw = params.get(name, "false")
    if raw not in ("true", "false"):
        raise invalid(f"Invalid boolean: {raw}", name)
    return bool(raw == "true")


def as_metadata(params: JSON) -> dict[str, str]:
    meta = params.get("metadata", {})
    if not isinstance(meta, dict):
        raise invalid("Invalid object", "metadata")
    return {str(k): str(v) for k, v in meta.items()}

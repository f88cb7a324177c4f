"""Money as integer minor units with an ISO 4217 currency. No floats anywhere."""

from __future__ import annotations

from dataclasses import dataclass

from payments.errors import InvalidAmountError, UnsupportedCurrencyError

# Minor-unit exponents (ISO 4217). Only currencies listed here are accepted.
CURRENCY_EXPONENTS: dict[str, int] = {
    "KRW": 0,
    "JPY": 0,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CAD": 2,
    "AUD": 2,
    "SGD": 2,
    "CHF": 2,
    "CNY": 2,
    "HKD": 2,
    "BHD": 3,
    "KWD": 3,
}

# Guard against values that overflow a signed 64-bit BIGINT column.
MAX_MINOR_UNITS = 2**63 - 1


def check_currency(currency: str) -> str:
    if currency not in CURRENCY_EXPONENTS:
        raise UnsupportedCurrencyError(f"unsupported currency {currency!r}")
    return currency


def exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS[check_currency(currency)]


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An amount in minor units (e.g. cents; won for KRW) of one currency."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        # bool is an int subclass; True cents is a bug, not money.
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise InvalidAmountError(f"amount must be integer minor units, got {self.amount!r}")
        if abs(self.amount) > MAX_MINOR_UNITS:
            raise InvalidAmountError("amount out of range")
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse a decimal string like ``"12.34"`` exactly (no float round-trip)."""
        exp = exponent(currency)
        raw = text.strip()
        negative = raw.startswith("-")
        digits = raw.lstrip("+-")
        whole, _, frac = digits.partition(".")
        if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > exp:
            raise InvalidAmountError(f"{text!r} is not a valid {currency} amount")
        minor = int(whole) * 10**exp + (int(frac.ljust(exp, "0")) if exp else 0)
        return cls(-minor if negative else minor, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidAmountError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def require_positive(self) -> Money:
        if self.amount <= 0:
            raise InvalidAmountError(f"amount must be positive, got {self.amount}")
        return self

    def format(self) -> str:
        """Human-readable decimal string, e.g. ``"12.34 USD"`` or ``"1500 KRW"``."""
        exp = exponent(self.currency)
        sign = "-" if self.amount < 0 else ""
        value = abs(self.amount)
        if exp == 0:
            return f"{sign}{value} {self.currency}"
        return f"{sign}{value // 10**exp}.{value % 10**exp:0{exp}d} {self.currency}"

    def __str__(self) -> str:
        return self.format()

from __future__ import annotations

import pytest

from payments.errors import InvalidAmountError, UnsupportedCurrencyError
from payments.money import Money


def test_minor_units_and_exponents() -> None:
    assert Money(1500, "KRW").format() == "1500 KRW"
    assert Money(1234, "USD").format() == "12.34 USD"
    assert Money(-5, "EUR").format() == "-0.05 EUR"
    assert Money(7, "JPY").format() == "7 JPY"


def test_parse_is_exact() -> None:
    assert Money.parse("12.34", "USD") == Money(1234, "USD")
    assert Money.parse("0.1", "USD") == Money(10, "USD")
    assert Money.parse("1500", "KRW") == Money(1500, "KRW")
    with pytest.raises(InvalidAmountError):
        Money.parse("1.5", "KRW")
    with pytest.raises(InvalidAmountError):
        Money.parse("1.234", "USD")
    with pytest.raises(InvalidAmountError):
        Money.parse("abc", "USD")


@pytest.mark.parametrize("bad", [1.5, "10", True, None])
def test_rejects_non_integer_amounts(bad: object) -> None:
    with pytest.raises(InvalidAmountError):
        Money(bad, "USD")  # type: ignore[arg-type]


def test_rejects_unknown_currency_and_mixing() -> None:
    with pytest.raises(UnsupportedCurrencyError):
        Money(1, "XXX")
    with pytest.raises(InvalidAmountError):
        Money(1, "USD") + Money(1, "EUR")
    assert Money(3, "USD") - Money(1, "USD") == Money(2, "USD")
    assert Money(3, "USD") > Money(1, "USD")
    with pytest.raises(InvalidAmountError):
        Money(0, "USD").require_positive()

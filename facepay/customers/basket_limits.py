"""The default most a site lets one visit be charged, per currency.

About 500,000 KRW in each currency the payments library accepts, in minor units. An
operator sets a site's own limit with ``facepay cabinets create-site --max-basket``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sqlalchemy.engine.default import DefaultExecutionContext

from facepay.errors import ValidationError

DEFAULT_MAX_BASKET: Mapping[str, int] = MappingProxyType(
    {
        "KRW": 500_000,
        "JPY": 55_000,
        "USD": 375_00,
        "EUR": 350_00,
        "GBP": 300_00,
        "CAD": 520_00,
        "AUD": 580_00,
        "SGD": 500_00,
        "CHF": 330_00,
        "CNY": 2_700_00,
        "HKD": 2_900_00,
        "BHD": 140_000,
        "KWD": 115_000,
    }
)


def default_max_basket(currency: str) -> int:
    try:
        return DEFAULT_MAX_BASKET[currency]
    except KeyError:
        raise ValidationError(
            f"no default maximum basket for {currency}: give one (--max-basket, minor units)"
        ) from None


def site_default(context: DefaultExecutionContext) -> int:
    """Column default: a site created without a limit gets its currency's default."""
    parameters: dict[str, object] = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return default_max_basket(str(parameters["currency"]))

"""E.164 phone numbers: accept what people type, store one canonical form."""

from __future__ import annotations

import re

from facepay.customers.errors import InvalidPhoneNumberError

_SEPARATORS = re.compile(r"[\s().\-]")
# Country codes never start with 0; E.164 allows at most 15 digits in total.
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# A Korean mobile number typed nationally (010-1234-5678) is the common case here.
_KR_NATIONAL = re.compile(r"^01[016789][0-9]{7,8}$")


def normalise_phone(raw: str, default_country: str = "KR") -> str:
    """The E.164 form of ``raw`` (``+821012345678``), or InvalidPhoneNumberError."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidPhoneNumberError("the phone number is empty")
    compact = _SEPARATORS.sub("", raw.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+") and default_country == "KR" and _KR_NATIONAL.match(compact):
        compact = "+82" + compact[1:]
    if not _E164.match(compact):
        raise InvalidPhoneNumberError(
            f"{raw!r} is not a phone number in international form, e.g. +821012345678"
        )
    return compact


def last4(phone_e164: str) -> str:
    return phone_e164[-4:]

"""Payloads of the customer /v1 API (answers that are service views are used as they are:
``CustomerProfile``, ``NoticeView``, ``PaymentMethodView``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

Phone = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ProcessorName = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class CreateCustomerIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone
    display_name: str | None = None
    site_ids: list[Id] = msgspec.field(default_factory=list)


class CustomerCreatedOut(msgspec.Struct):
    customer_id: str
    verification_id: str
    phone: str


class CodeRequestIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone


class VerificationOut(msgspec.Struct):
    verification_id: str


class VerifyIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=12)]


class SessionOut(msgspec.Struct):
    customer_id: str
    session_token: str
    expires_at: datetime


class ConsentIn(msgspec.Struct, forbid_unknown_fields=True):
    notice_id: Id
    decision: Annotated[str, msgspec.Meta(max_length=16)]


class ConsentOut(msgspec.Struct):
    record_id: str
    decision: str


class EnrollmentOut(msgspec.Struct):
    template_id: str
    model_pack_id: str
    images_used: list[int]
    skipped: dict[str, list[str]]


class CardLinkIn(msgspec.Struct, forbid_unknown_fields=True):
    return_url: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    # None: the default processor of the customer's first site, else the server's.
    processor: ProcessorName | None = None


class CardLinkOut(msgspec.Struct):
    link_id: str
    redirect_url: str  # "" when the processor's element takes the card (Stripe)
    processor: str
    client_secret: str | None = None  # Stripe: confirm the SetupIntent with Stripe.js


class SitesIn(msgspec.Struct, forbid_unknown_fields=True):
    site_ids: list[Id]


class QrOut(msgspec.Struct):
    token: str
    expires_in_seconds: int
    png_base64: str  # the token as a QR code image, ready to show


class DeletionOut(msgspec.Struct):
    certificate: str
    signature: str

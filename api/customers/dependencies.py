"""The customer services as Litestar dependencies, and the signed-in customer.

``customer_dependencies`` is the one place that reads the services the server
built; handlers name what they use (``accounts: CustomerAccounts``) and
Litestar hands it to them.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from litestar import Request
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide

from api.customers.receipts import ReceiptLookup, receipt_lookup
from facepay.customers.accounts import CustomerAccounts
from facepay.customers.cards import CustomerCards
from facepay.customers.consents import CustomerConsents
from facepay.customers.enrollment import FaceEnrollment
from facepay.customers.errors import AuthenticationError
from facepay.customers.phone_verification import PhoneVerifier
from facepay.customers.qr import QrTokens
from facepay.customers.services import CustomerServices
from facepay.customers.session_tokens import SESSION_TTL, SessionTokens

SESSION_COOKIE = "facepay_session"


def customer_dependencies(
    services: CustomerServices, *, receipts: ReceiptLookup | None = None
) -> dict[str, Provide]:
    """For ``Litestar(dependencies=...)``: every customer service under its own name.
    ``receipts`` defaults to reading them from the customers' database."""
    lookup = receipts or receipt_lookup(services.accounts.sessions)

    def customer_accounts() -> CustomerAccounts:
        return services.accounts

    def phone_verifier() -> PhoneVerifier:
        return services.phones

    def session_tokens() -> SessionTokens:
        return services.session_tokens

    def customer_consents() -> CustomerConsents:
        return services.consents

    def face_enrollment() -> FaceEnrollment:
        return services.enrollment

    def customer_cards() -> CustomerCards:
        return services.cards

    def qr_tokens() -> QrTokens:
        return services.qr

    def customer_services() -> CustomerServices:
        return services

    def receipt_reader() -> ReceiptLookup:
        return lookup

    providers = (
        customer_accounts,
        phone_verifier,
        session_tokens,
        customer_consents,
        face_enrollment,
        customer_cards,
        qr_tokens,
        customer_services,
        receipt_reader,
    )
    return {p.__name__: Provide(p, use_cache=True, sync_to_thread=False) for p in providers}


def session_token_of(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


async def current_customer(
    request: Request[Any, Any, Any], session_tokens: NamedDependency[SessionTokens]
) -> str:
    """The signed-in customer's id (the ``customer_id`` dependency); AuthenticationError
    otherwise."""
    token = session_token_of(request)
    if not token:
        raise AuthenticationError("sign in with your phone number first")
    return await to_thread.run_sync(session_tokens.authenticate, token)


def session_cookie(services: CustomerServices, token: str) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=services.public_url.startswith("https://"),
        path="/",
    )

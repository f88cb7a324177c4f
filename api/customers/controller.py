"""The customer's /v1 JSON API: sign-up by phone, consent, face, cards, cohorts, QR, deletion.

Thin: parse, authenticate, call the customer services off the event loop, shape
the answer. The customer's phone session is a bearer token issued after phone
verification (``Authorization: Bearer fps1...``); the mobile pages carry the
same token in an HttpOnly, SameSite=Lax cookie.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from anyio import to_thread
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, HeaderParameter, JSONBody, Parameter

from api.customers.dependencies import SESSION_COOKIE, current_customer, session_cookie
from api.customers.errors import CUSTOMER_PROBLEMS
from api.customers.schemas import (
    CardLinkIn,
    CardLinkOut,
    CodeRequestIn,
    ConsentIn,
    ConsentOut,
    CreateCustomerIn,
    CustomerCreatedOut,
    DeletionOut,
    EnrollmentOut,
    QrOut,
    SessionOut,
    SitesIn,
    VerificationOut,
    VerifyIn,
)
from api.customers.uploads import MAX_UPLOAD_BYTES, read_photos
from facepay.customers.accounts import CustomerAccounts, CustomerProfile
from facepay.customers.cards import CustomerCards, PaymentMethodView
from facepay.customers.consents import CustomerConsents, NoticeView
from facepay.customers.enrollment import FaceEnrollment
from facepay.customers.phone_numbers import normalise_phone
from facepay.customers.phone_verification import PhoneVerifier
from facepay.customers.qr import TOKEN_TTL, QrTokens, qr_png
from facepay.customers.services import CustomerServices
from facepay.customers.session_tokens import SessionTokens

IdempotencyKey = Annotated[
    str, HeaderParameter(name="Idempotency-Key", min_length=1, max_length=200)
]


class CustomerController(Controller):
    path = "/v1"
    tags = ["customers"]  # noqa: RUF012 - Litestar reads it as a class attribute
    exception_handlers = dict(CUSTOMER_PROBLEMS)  # noqa: RUF012
    dependencies = {"customer_id": Provide(current_customer)}  # noqa: RUF012

    @post("/customers", status_code=201)
    async def create_customer(
        self, customer_accounts: NamedDependency[CustomerAccounts], data: JSONBody[CreateCustomerIn]
    ) -> CustomerCreatedOut:
        """Sign up with a phone number; a one-time code is sent to it."""
        created = await to_thread.run_sync(
            lambda: customer_accounts.create(
                data.phone, display_name=data.display_name, site_ids=data.site_ids
            )
        )
        return CustomerCreatedOut(created.customer_id, created.verification_id, created.phone_e164)

    @post("/phone-verifications", status_code=202)
    async def request_phone_code(
        self, phone_verifier: NamedDependency[PhoneVerifier], data: JSONBody[CodeRequestIn]
    ) -> VerificationOut:
        """Send a new code to a registered phone (resend, or sign in on a new device)."""
        phone = normalise_phone(data.phone)
        return VerificationOut(await to_thread.run_sync(phone_verifier.request_code, phone))

    @post("/phone-verifications/{verification_id:str}/verify", status_code=200)
    async def verify_phone(
        self,
        phone_verifier: NamedDependency[PhoneVerifier],
        session_tokens: NamedDependency[SessionTokens],
        customer_services: NamedDependency[CustomerServices],
        verification_id: FromPath[str],
        data: JSONBody[VerifyIn],
    ) -> Response[SessionOut]:
        """Check the code; answers with the session token (and sets it as a cookie)."""
        verified = await to_thread.run_sync(phone_verifier.verify, verification_id, data.code)
        token, expires = session_tokens.issue(verified.customer_id)
        return Response(
            SessionOut(verified.customer_id, token, expires),
            cookies=[session_cookie(customer_services, token)],
        )

    @get("/consent-notices/{kind:str}")
    async def read_notice(
        self,
        customer_consents: NamedDependency[CustomerConsents],
        kind: FromPath[str],
        language: str = Parameter(default="ko", max_length=8),
    ) -> NoticeView:
        return await to_thread.run_sync(customer_consents.notice, kind, language)

    @get("/me")
    async def me(
        self,
        customer_accounts: NamedDependency[CustomerAccounts],
        customer_id: NamedDependency[str],
    ) -> CustomerProfile:
        return await to_thread.run_sync(customer_accounts.profile, customer_id)

    @post("/me/consents", status_code=201)
    async def decide_consent(
        self,
        customer_consents: NamedDependency[CustomerConsents],
        customer_id: NamedDependency[str],
        data: JSONBody[ConsentIn],
    ) -> ConsentOut:
        """Grant, refuse or withdraw; withdrawing biometric consent destroys the face data."""
        recorded = await to_thread.run_sync(
            lambda: customer_consents.decide(
                customer_id, data.notice_id, data.decision, channel="api"
            )
        )
        return ConsentOut(recorded.record_id, recorded.decision)

    @post("/me/face", status_code=201, request_max_body_size=MAX_UPLOAD_BYTES)
    async def enroll(
        self,
        request: Request[Any, Any, Any],
        face_enrollment: NamedDependency[FaceEnrollment],
        customer_id: NamedDependency[str],
    ) -> EnrollmentOut:
        """Enroll the face from 3-8 photos: multipart/form-data, one file part per photo
        (JPEG or PNG). The photos are processed in memory and never stored."""
        receipt = await face_enrollment.enroll(customer_id, await read_photos(request))
        return EnrollmentOut(
            receipt.template_id,
            receipt.model_pack_id,
            list(receipt.images_used),
            {str(i): r for i, r in receipt.image_reasons.items()},
        )

    @post("/me/cards", status_code=201)
    async def begin_card_link(
        self,
        customer_cards: NamedDependency[CustomerCards],
        customer_services: NamedDependency[CustomerServices],
        customer_id: NamedDependency[str],
        data: JSONBody[CardLinkIn],
        idempotency_key: IdempotencyKey,
    ) -> CardLinkOut:
        """Start linking a card: redirect the customer to ``redirect_url`` (the processor's
        page). Without ``processor``, the default processor of the customer's first site."""
        start = await to_thread.run_sync(
            lambda: customer_cards.begin_link(
                customer_id,
                return_url=data.return_url or customer_services.card_return_url,
                idempotency_key=idempotency_key,
                processor=data.processor,
            )
        )
        return CardLinkOut(start.link_id, start.redirect_url, start.processor, start.client_secret)

    @post("/me/cards/{link_id:str}/complete", status_code=200)
    async def complete_card_link(
        self,
        customer_cards: NamedDependency[CustomerCards],
        customer_id: NamedDependency[str],
        link_id: FromPath[str],
    ) -> PaymentMethodView:
        """After the processor sent the customer back: fetch and keep the token."""
        return await to_thread.run_sync(customer_cards.complete_link, customer_id, link_id)

    @get("/me/cards")
    async def list_cards(
        self, customer_cards: NamedDependency[CustomerCards], customer_id: NamedDependency[str]
    ) -> list[PaymentMethodView]:
        return await to_thread.run_sync(customer_cards.list_cards, customer_id)

    @put("/me/cards/{method_id:str}/default", status_code=200)
    async def set_default_card(
        self,
        customer_cards: NamedDependency[CustomerCards],
        customer_id: NamedDependency[str],
        method_id: FromPath[str],
    ) -> list[PaymentMethodView]:
        await to_thread.run_sync(customer_cards.set_default, customer_id, method_id)
        return await to_thread.run_sync(customer_cards.list_cards, customer_id)

    @post("/me/sites", status_code=200)
    async def join_sites(
        self,
        customer_accounts: NamedDependency[CustomerAccounts],
        customer_id: NamedDependency[str],
        data: JSONBody[SitesIn],
    ) -> CustomerProfile:
        await to_thread.run_sync(customer_accounts.join_sites, customer_id, data.site_ids)
        return await to_thread.run_sync(customer_accounts.profile, customer_id)

    @post("/me/qr-tokens", status_code=201)
    async def new_qr_token(
        self, qr_tokens: NamedDependency[QrTokens], customer_id: NamedDependency[str]
    ) -> QrOut:
        """A fresh unlock token for the phone screen (valid 30 s, single use)."""
        token = await to_thread.run_sync(qr_tokens.issue, customer_id)
        png = base64.b64encode(qr_png(token)).decode()
        return QrOut(token, int(TOKEN_TTL.total_seconds()), png)

    @delete("/me", status_code=200)
    async def delete_me(
        self,
        customer_accounts: NamedDependency[CustomerAccounts],
        customer_id: NamedDependency[str],
    ) -> Response[DeletionOut]:
        """Delete my data: face templates crypto-shredded, phone, cards and cohorts removed."""
        certificate = await to_thread.run_sync(
            lambda: customer_accounts.delete(customer_id, actor=f"customer:{customer_id}")
        )
        response = Response(DeletionOut(certificate.body, certificate.signature))
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

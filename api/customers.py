"""The customer's /v1 JSON API: sign-up by phone, consent, face, cards, cohorts, QR, deletion.

Thin: parse, authenticate, call the facepay services off the event loop,
shape the answer. The customer's phone session is a bearer token issued after
phone verification (``Authorization: Bearer fps1...``); the mobile pages carry
the same token in an HttpOnly, SameSite=Lax cookie.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

import msgspec
from anyio import to_thread
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import Cookie, State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, HeaderParameter, JSONBody, Parameter
from litestar.types import ExceptionHandlersMap
from multipart import (  # type: ignore[import-untyped]
    MultipartSegment,
    ParserError,
    ParserLimitReached,
    PushMultipartParser,
    parse_options_header,
)

from api.problems import problem
from biometrics.engine import FaceEngine
from biometrics.images import DEFAULT_LIMITS
from biometrics.model_pack import inspect_pack
from facepay.compliance.consent import current_notice
from facepay.customers import payment_methods, service
from facepay.customers.auth import SESSION_TTL, authenticate, issue_session_token
from facepay.customers.enrollment import (
    MAX_IMAGES,
    EnrollmentReceipt,
    enroll_face,
    passive_liveness,
)
from facepay.customers.errors import (
    AuthenticationError,
    EnrollmentRejectedError,
    RateLimitedError,
    VerificationFailedError,
)
from facepay.customers.models import CardLinkSession
from facepay.customers.phone_numbers import normalise_phone
from facepay.customers.phone_verification import request_code, verify_code
from facepay.errors import FacePayError, ValidationError
from facepay.platform import Platform
from facepay.qr import TOKEN_TTL, QrTokenError, issue_qr_token, qr_png
from payments.processor import Processor

SESSION_COOKIE = "facepay_session"
MAX_UPLOAD_BYTES = 48 * 1024 * 1024
Phone = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


# -- shared by the JSON API and the mobile pages -----------------------------------------


def platform_of(state: State) -> Platform:
    platform: Platform = state.platform
    return platform


def session_token_of(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


async def current_customer(request: Request[Any, Any, Any], state: State) -> str:
    """The authenticated customer's id (a dependency); AuthenticationError otherwise."""
    token = session_token_of(request)
    if not token:
        raise AuthenticationError("sign in with your phone number first")
    return await to_thread.run_sync(authenticate, platform_of(state), token)


def session_cookie(platform: Platform, token: str) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=platform.settings.effective_public_url.startswith("https://"),
        path="/",
    )


def face_engine(platform: Platform) -> FaceEngine:
    settings = platform.settings
    return FaceEngine.load(inspect_pack(settings.model_pack_dir, settings.model_licence))


def processor_of(platform: Platform, name: str) -> Processor:
    processor = platform.payments.processors.get(name)
    if processor is None:
        known = ", ".join(sorted(platform.payments.processors))
        raise ValidationError(f"unknown processor {name!r}; available: {known}")
    return processor


async def read_photos(request: Request[Any, Any, Any]) -> list[bytes]:
    """The image parts of a multipart upload, held in memory only.

    Litestar's own form parsing spools parts over 1 MiB to a temporary file;
    face photos must never touch a disk, so the body is parsed here instead.
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != "multipart/form-data" or "boundary" not in params:
        raise ValidationError("send the photos as multipart/form-data")
    photos: list[bytearray] = []
    current: bytearray | None = None
    try:
        with PushMultipartParser(
            params["boundary"].encode(), max_segment_count=MAX_IMAGES + 4
        ) as parser:
            async for chunk in request.stream():
                for part in parser.parse(chunk):
                    if isinstance(part, MultipartSegment):
                        current = bytearray() if part.filename is not None else None
                        if current is not None:
                            photos.append(current)
                        if len(photos) > MAX_IMAGES:
                            raise ValidationError(f"send at most {MAX_IMAGES} images")
                    elif part and current is not None:
                        current.extend(part)
                        if len(current) > DEFAULT_LIMITS.max_bytes:
                            raise ValidationError(
                                f"a photo is over the {DEFAULT_LIMITS.max_bytes} byte limit"
                            )
            if not parser.closed:
                raise ValidationError("the multipart body ended early")
    except (ParserError, ParserLimitReached) as exc:
        raise ValidationError(f"the multipart body is malformed: {exc}") from exc
    return [bytes(p) for p in photos]


async def enroll_uploaded(
    platform: Platform, customer_id: str, request: Request[Any, Any, Any]
) -> EnrollmentReceipt:
    """Enroll from uploaded photos with the configured quality and liveness checks."""
    return await enroll_face(
        platform,
        customer_id,
        await read_photos(request),
        engine=face_engine(platform),
        liveness=passive_liveness(platform.settings),
    )


def _problem(exc: FacePayError, **extra: Any) -> Response[dict[str, Any]]:
    return problem(exc.status_code, exc.title, str(exc), exc.problem_type, **extra)


def _rate_limited(_: Request[Any, Any, Any], exc: RateLimitedError) -> Response[dict[str, Any]]:
    response = _problem(exc, retry_after_seconds=exc.retry_after_seconds)
    response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


# Problem documents that carry machine-readable fields beyond the detail text.
CUSTOMER_PROBLEMS: ExceptionHandlersMap = {
    VerificationFailedError: lambda _, exc: _problem(exc, reason=exc.reason),
    QrTokenError: lambda _, exc: _problem(exc, reason=exc.reason),
    EnrollmentRejectedError: lambda _, exc: _problem(
        exc,
        images=[
            {"index": i, "reasons": reasons} for i, reasons in sorted(exc.image_reasons.items())
        ],
    ),
    RateLimitedError: _rate_limited,
}


# -- payloads ----------------------------------------------------------------------------


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


class NoticeOut(msgspec.Struct):
    id: str
    kind: str
    version: int
    language: str
    purpose: str
    items: str
    retention_days: int
    text: str


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
    return_url: str | None = None
    processor: str | None = None  # None: the server's default processor


class CardLinkOut(msgspec.Struct):
    link_id: str
    redirect_url: str  # "" when the processor's element takes the card (Stripe)
    processor: str = "sandbox"
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


# -- endpoints ---------------------------------------------------------------------------


class CustomerController(Controller):
    path = "/v1"
    tags = ["customers"]  # noqa: RUF012 - Litestar reads it as a class attribute
    exception_handlers = CUSTOMER_PROBLEMS
    dependencies = {"customer_id": Provide(current_customer)}  # noqa: RUF012

    @post("/customers", status_code=201)
    async def create_customer(
        self, state: State, data: JSONBody[CreateCustomerIn]
    ) -> CustomerCreatedOut:
        """Sign up with a phone number; a one-time code is sent to it."""
        created = await to_thread.run_sync(
            lambda: service.create_customer(
                platform_of(state),
                data.phone,
                display_name=data.display_name,
                site_ids=data.site_ids,
            )
        )
        return CustomerCreatedOut(created.customer_id, created.verification_id, created.phone_e164)

    @post("/phone-verifications", status_code=202)
    async def request_phone_code(
        self, state: State, data: JSONBody[CodeRequestIn]
    ) -> VerificationOut:
        """Send a new code to a registered phone (resend, or sign in on a new device)."""
        phone = normalise_phone(data.phone)
        verification_id = await to_thread.run_sync(request_code, platform_of(state), phone)
        return VerificationOut(verification_id)

    @post("/phone-verifications/{verification_id:str}/verify", status_code=200)
    async def verify_phone(
        self, state: State, verification_id: FromPath[str], data: JSONBody[VerifyIn]
    ) -> Response[SessionOut]:
        """Check the code; answers with the session token (and sets it as a cookie)."""
        platform = platform_of(state)
        verified = await to_thread.run_sync(verify_code, platform, verification_id, data.code)
        token, expires = issue_session_token(platform, verified.customer_id)
        return Response(
            SessionOut(verified.customer_id, token, expires),
            cookies=[session_cookie(platform, token)],
        )

    @get("/consent-notices/{kind:str}")
    async def read_notice(
        self,
        state: State,
        kind: FromPath[str],
        language: str = Parameter(default="ko", max_length=8),
    ) -> NoticeOut:
        def read() -> NoticeOut:
            with platform_of(state).sessions.begin() as session:
                n = current_notice(session, kind, language)
                return NoticeOut(
                    n.id,
                    n.kind,
                    n.version,
                    n.language,
                    n.purpose,
                    n.items,
                    n.retention_days,
                    n.text,
                )

        return await to_thread.run_sync(read)

    @get("/me")
    async def me(self, state: State, customer_id: NamedDependency[str]) -> service.CustomerProfile:
        return await to_thread.run_sync(service.customer_profile, platform_of(state), customer_id)

    @post("/me/consents", status_code=201)
    async def decide_consent(
        self, state: State, customer_id: NamedDependency[str], data: JSONBody[ConsentIn]
    ) -> ConsentOut:
        """Grant, refuse or withdraw; withdrawing biometric consent destroys the face data."""
        record_id = await to_thread.run_sync(
            lambda: service.decide_consent(
                platform_of(state), customer_id, data.notice_id, data.decision, channel="api"
            )
        )
        return ConsentOut(record_id, data.decision)

    @post("/me/face", status_code=201, request_max_body_size=MAX_UPLOAD_BYTES)
    async def enroll(
        self, request: Request[Any, Any, Any], state: State, customer_id: NamedDependency[str]
    ) -> EnrollmentOut:
        """Enroll the face from 3-8 photos: multipart/form-data, one file part per photo
        (JPEG or PNG). The photos are processed in memory and never stored."""
        receipt = await enroll_uploaded(platform_of(state), customer_id, request)
        return EnrollmentOut(
            receipt.template_id,
            receipt.model_pack_id,
            list(receipt.images_used),
            {str(i): r for i, r in receipt.image_reasons.items()},
        )

    @post("/me/cards", status_code=201)
    async def begin_card_link(
        self,
        state: State,
        customer_id: NamedDependency[str],
        data: JSONBody[CardLinkIn],
        idempotency_key: Annotated[
            str, HeaderParameter(name="Idempotency-Key", min_length=1, max_length=200)
        ],
    ) -> CardLinkOut:
        """Start linking a card: redirect the customer to ``redirect_url`` (the network's page)."""
        platform = platform_of(state)
        return_url = data.return_url or platform.settings.effective_public_url + "/m/cards/return"
        start = await to_thread.run_sync(
            lambda: payment_methods.begin_card_link(
                platform,
                processor_of(platform, data.processor or platform.payments.default_processor),
                customer_id,
                return_url=return_url,
                idempotency_key=idempotency_key,
            )
        )
        return CardLinkOut(start.link_id, start.redirect_url, start.processor, start.client_secret)

    @post("/me/cards/{link_id:str}/complete", status_code=200)
    async def complete_card_link(
        self, state: State, customer_id: NamedDependency[str], link_id: FromPath[str]
    ) -> payment_methods.PaymentMethodView:
        """After the network sent the customer back: fetch and keep the token."""
        platform = platform_of(state)

        def complete() -> payment_methods.PaymentMethodView:
            with platform.sessions() as session:
                link = session.get(CardLinkSession, link_id)
                name = link.processor if link is not None else "sandbox"
            return payment_methods.complete_card_link(
                platform, processor_of(platform, name), customer_id, link_id
            )

        return await to_thread.run_sync(complete)

    @get("/me/cards")
    async def list_cards(
        self, state: State, customer_id: NamedDependency[str]
    ) -> list[payment_methods.PaymentMethodView]:
        return await to_thread.run_sync(
            payment_methods.list_payment_methods, platform_of(state), customer_id
        )

    @put("/me/cards/{method_id:str}/default", status_code=200)
    async def set_default_card(
        self, state: State, customer_id: NamedDependency[str], method_id: FromPath[str]
    ) -> list[payment_methods.PaymentMethodView]:
        platform = platform_of(state)
        await to_thread.run_sync(
            payment_methods.set_default_payment_method, platform, customer_id, method_id
        )
        return await to_thread.run_sync(payment_methods.list_payment_methods, platform, customer_id)

    @post("/me/sites", status_code=200)
    async def join_sites(
        self, state: State, customer_id: NamedDependency[str], data: JSONBody[SitesIn]
    ) -> service.CustomerProfile:
        platform = platform_of(state)
        await to_thread.run_sync(service.join_sites, platform, customer_id, data.site_ids)
        return await to_thread.run_sync(service.customer_profile, platform, customer_id)

    @post("/me/qr-tokens", status_code=201)
    async def new_qr_token(self, state: State, customer_id: NamedDependency[str]) -> QrOut:
        """A fresh unlock token for the phone screen (valid 30 s, single use)."""
        token = await to_thread.run_sync(issue_qr_token, platform_of(state), customer_id)
        png = base64.b64encode(qr_png(token)).decode()
        return QrOut(token, int(TOKEN_TTL.total_seconds()), png)

    @delete("/me", status_code=200)
    async def delete_me(
        self, state: State, customer_id: NamedDependency[str]
    ) -> Response[DeletionOut]:
        """Delete my data: face templates crypto-shredded, phone, cards and cohorts removed."""
        certificate = await to_thread.run_sync(
            lambda: service.delete_customer(
                platform_of(state), customer_id, actor=f"customer:{customer_id}"
            )
        )
        response = Response(DeletionOut(certificate.body, certificate.signature))
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

"""The customer's mobile web pages under /m: sign up, verify, consent, face, cards, QR, delete.

Plain HTML forms. After phone verification the session token lives in an
HttpOnly, SameSite=Lax cookie: a form posted from another site arrives
without it, so the pages need no separate CSRF token.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from anyio import to_thread
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect

from api.customers import (
    MAX_UPLOAD_BYTES,
    SESSION_COOKIE,
    current_customer,
    enroll_uploaded,
    platform_of,
    processor_of,
    session_cookie,
)
from facepay.compliance.consent import BIOMETRIC, consent_state, current_notice
from facepay.customers import payment_methods, service
from facepay.customers.auth import issue_session_token
from facepay.customers.errors import AuthenticationError, EnrollmentRejectedError
from facepay.customers.phone_numbers import normalise_phone
from facepay.customers.phone_verification import request_code, verify_code
from facepay.errors import FacePayError
from facepay.qr import TOKEN_TTL, issue_qr_token, qr_png

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "templates" / "customers"),
    autoescape=select_autoescape(default=True),
)
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
QR_REFRESH_SECONDS = int(TOKEN_TTL.total_seconds()) - 5


def render(name: str, status: int = 200, **context: Any) -> Response[str]:
    html = _TEMPLATES.get_template(name).render(**context)
    return Response(html, status_code=status, media_type="text/html")


def _error_page(name: str, exc: FacePayError, title: str, **context: Any) -> Response[str]:
    reasons = []
    if isinstance(exc, EnrollmentRejectedError):
        reasons = [{"index": i, "reasons": r} for i, r in sorted(exc.image_reasons.items())]
    return render(name, exc.status_code, title=title, error=str(exc), reasons=reasons, **context)


Page = Callable[[str], Awaitable[Response[Any]]]


async def _signed_in(request: Request[Any, Any, Any], state: State, page: Page) -> Response[Any]:
    try:
        customer_id = await current_customer(request, state)
    except AuthenticationError:
        return Redirect("/m/signin", status_code=303)
    return await page(customer_id)


@get("/", media_type="text/html")
async def signup_page() -> Response[str]:
    return render("phone.html", title="Sign up / 가입", action="/m/signup")


@post("/signup", media_type="text/html")
async def signup(state: State, data: Form) -> Response[Any]:
    try:
        created = await to_thread.run_sync(
            service.create_customer, platform_of(state), data.get("phone", "")
        )
    except FacePayError as exc:
        return _error_page("phone.html", exc, "Sign up / 가입", action="/m/signup")
    return Redirect(f"/m/verify/{created.verification_id}", status_code=303)


@get("/signin", media_type="text/html")
async def signin_page() -> Response[str]:
    return render("phone.html", title="Sign in / 로그인", action="/m/signin")


@post("/signin", media_type="text/html")
async def signin(state: State, data: Form) -> Response[Any]:
    try:
        phone = normalise_phone(data.get("phone", ""))
        verification_id = await to_thread.run_sync(request_code, platform_of(state), phone)
    except FacePayError as exc:
        return _error_page("phone.html", exc, "Sign in / 로그인", action="/m/signin")
    return Redirect(f"/m/verify/{verification_id}", status_code=303)


@get("/verify/{verification_id:str}", media_type="text/html")
async def verify_page(verification_id: FromPath[str]) -> Response[str]:
    return render("verify.html", title="Verify / 인증", verification_id=verification_id)


@post("/verify/{verification_id:str}", media_type="text/html")
async def verify(state: State, verification_id: FromPath[str], data: Form) -> Response[Any]:
    platform = platform_of(state)
    try:
        verified = await to_thread.run_sync(
            verify_code, platform, verification_id, data.get("code", "")
        )
    except FacePayError as exc:
        return _error_page("verify.html", exc, "Verify / 인증", verification_id=verification_id)
    token, _ = issue_session_token(platform, verified.customer_id)
    return Redirect("/m/home", status_code=303, cookies=[session_cookie(platform, token)])


@get("/home", media_type="text/html")
async def home(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    async def page(customer_id: str) -> Response[Any]:
        profile = await to_thread.run_sync(
            service.customer_profile, platform_of(state), customer_id
        )
        return render("home.html", title="FacePay", signed_in=True, profile=profile)

    return await _signed_in(request, state, page)


@get("/consent", media_type="text/html")
async def consent_page(
    request: Request[Any, Any, Any], state: State, lang: FromQuery[str] = "ko"
) -> Response[Any]:
    async def page(customer_id: str) -> Response[Any]:
        def read() -> Response[Any]:
            with platform_of(state).sessions.begin() as session:
                notice = current_notice(session, BIOMETRIC, lang if lang in ("ko", "en") else "ko")
                current = consent_state(session, customer_id, BIOMETRIC).decision
                return render(
                    "consent.html",
                    title="생체정보 수집·이용 동의"
                    if notice.language == "ko"
                    else "Biometric consent",
                    lang=notice.language,
                    signed_in=True,
                    notice=notice,
                    current=current.value if current else None,
                )

        return await to_thread.run_sync(read)

    return await _signed_in(request, state, page)


@post("/consent", media_type="text/html")
async def consent(request: Request[Any, Any, Any], state: State, data: Form) -> Response[Any]:
    async def page(customer_id: str) -> Response[Any]:
        try:
            await to_thread.run_sync(
                lambda: service.decide_consent(
                    platform_of(state),
                    customer_id,
                    data.get("notice_id", ""),
                    data.get("decision", ""),
                    channel="mobile_web",
                )
            )
        except FacePayError as exc:
            return render("home.html", exc.status_code, title="FacePay", error=str(exc))
        return Redirect("/m/home", status_code=303)

    return await _signed_in(request, state, page)


@get("/face", media_type="text/html")
async def face_page(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    async def page(customer_id: str) -> Response[Any]:
        return render("face.html", title="Face / 얼굴 등록", signed_in=True)

    return await _signed_in(request, state, page)


@post("/face", media_type="text/html", request_max_body_size=MAX_UPLOAD_BYTES)
async def face(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    async def page(customer_id: str) -> Response[Any]:
        try:
            await enroll_uploaded(platform_of(state), customer_id, request)
        except FacePayError as exc:
            return _error_page("face.html", exc, "Face / 얼굴 등록", signed_in=True)
        return render("face.html", 201, title="Face / 얼굴 등록", signed_in=True, enrolled=True)

    return await _signed_in(request, state, page)


@get("/cards", media_type="text/html")
async def cards_page(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    async def page(customer_id: str) -> Response[Any]:
        cards = await to_thread.run_sync(
            payment_methods.list_payment_methods, platform_of(state), customer_id
        )
        return render("cards.html", title="Cards / 카드", signed_in=True, cards=cards)

    return await _signed_in(request, state, page)


@post("/cards", media_type="text/html")
async def add_card(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    async def page(customer_id: str) -> Response[Any]:
        platform = platform_of(state)
        # Each press of the button starts its own link; a retried press just adds one.
        key = "page:" + secrets.token_urlsafe(12)
        try:
            start = await to_thread.run_sync(
                lambda: payment_methods.begin_card_link(
                    platform,
                    processor_of(platform, "sandbox"),
                    customer_id,
                    return_url=platform.settings.effective_public_url + "/m/cards/return",
                    idempotency_key=key,
                )
            )
        except FacePayError as exc:
            return render("cards.html", exc.status_code, title="Cards", error=str(exc), cards=[])
        return Redirect(start.redirect_url, status_code=303)

    return await _signed_in(request, state, page)


@get("/cards/return", media_type="text/html")
async def card_return(
    request: Request[Any, Any, Any], state: State, link_id: FromQuery[str]
) -> Response[Any]:
    async def page(customer_id: str) -> Response[Any]:
        platform = platform_of(state)
        try:
            await to_thread.run_sync(
                lambda: payment_methods.complete_card_link(
                    platform, processor_of(platform, "sandbox"), customer_id, link_id
                )
            )
        except FacePayError as exc:
            return render("cards.html", exc.status_code, title="Cards", error=str(exc), cards=[])
        return Redirect("/m/cards", status_code=303)

    return await _signed_in(request, state, page)


@post("/cards/{method_id:str}/default", media_type="text/html")
async def default_card(
    request: Request[Any, Any, Any], state: State, method_id: FromPath[str]
) -> Response[Any]:
    async def page(customer_id: str) -> Response[Any]:
        await to_thread.run_sync(
            payment_methods.set_default_payment_method, platform_of(state), customer_id, method_id
        )
        return Redirect("/m/cards", status_code=303)

    return await _signed_in(request, state, page)


@get("/qr", media_type="text/html")
async def qr_page(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    async def page(customer_id: str) -> Response[Any]:
        token = await to_thread.run_sync(issue_qr_token, platform_of(state), customer_id)
        return render(
            "qr.html",
            title="QR",
            signed_in=True,
            png_base64=base64.b64encode(qr_png(token)).decode(),
            ttl_seconds=int(TOKEN_TTL.total_seconds()),
            refresh_seconds=QR_REFRESH_SECONDS,
        )

    return await _signed_in(request, state, page)


@get("/delete", media_type="text/html")
async def delete_page(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    async def page(customer_id: str) -> Response[Any]:
        return render("delete.html", title="Delete my data / 내 정보 삭제", signed_in=True)

    return await _signed_in(request, state, page)


@post("/delete", media_type="text/html")
async def delete_me(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    async def page(customer_id: str) -> Response[Any]:
        certificate = await to_thread.run_sync(
            lambda: service.delete_customer(
                platform_of(state), customer_id, actor=f"customer:{customer_id}"
            )
        )
        response = render(
            "delete.html",
            title="Deleted / 삭제 완료",
            certificate=certificate.body,
            signature=certificate.signature,
        )
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return await _signed_in(request, state, page)


customer_pages = Router(
    path="/m",
    route_handlers=[
        signup_page,
        signup,
        signin_page,
        signin,
        verify_page,
        verify,
        home,
        consent_page,
        consent,
        face_page,
        face,
        cards_page,
        add_card,
        card_return,
        default_card,
        qr_page,
        delete_page,
        delete_me,
    ],
    tags=["customer pages"],
    include_in_schema=False,
)

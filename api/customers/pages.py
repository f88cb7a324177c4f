"""The customer's mobile web pages under /m: sign up, verify, consent, face, cards, QR, delete.

Plain HTML forms. After phone verification the session token lives in an
HttpOnly, SameSite=Lax cookie: a form posted from another site arrives
without it, so the pages need no separate CSRF token. A page that needs the
customer names the ``customer_id`` dependency; without a valid session the
visitor is sent to the sign-in page.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Annotated, Any

from anyio import to_thread
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect

from api.customers.dependencies import SESSION_COOKIE, current_customer, session_cookie
from api.customers.uploads import MAX_UPLOAD_BYTES, read_photos
from facepay.compliance.consent import BIOMETRIC
from facepay.customers.accounts import CustomerAccounts
from facepay.customers.cards import CustomerCards
from facepay.customers.consents import CustomerConsents
from facepay.customers.enrollment import FaceEnrollment
from facepay.customers.errors import AuthenticationError, EnrollmentRejectedError
from facepay.customers.phone_numbers import normalise_phone
from facepay.customers.phone_verification import PhoneVerifier
from facepay.customers.qr import TOKEN_TTL, QrTokens, qr_png
from facepay.customers.services import CustomerServices
from facepay.customers.session_tokens import SessionTokens
from facepay.errors import FacePayError

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True),
)
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
CustomerId = NamedDependency[str]
QR_REFRESH_SECONDS = int(TOKEN_TTL.total_seconds()) - 5


def render(name: str, status: int = 200, **context: Any) -> Response[str]:
    html = _TEMPLATES.get_template(name).render(**context)
    return Response(html, status_code=status, media_type="text/html")


def _error_page(name: str, exc: FacePayError, title: str, **context: Any) -> Response[str]:
    reasons = []
    if isinstance(exc, EnrollmentRejectedError):
        reasons = [{"index": i, "reasons": r} for i, r in sorted(exc.image_reasons.items())]
    return render(name, exc.status_code, title=title, error=str(exc), reasons=reasons, **context)


def _to_sign_in(_: Request[Any, Any, Any], __: AuthenticationError) -> Response[Any]:
    return Redirect("/m/signin", status_code=303)


@get("/", media_type="text/html")
async def signup_page() -> Response[str]:
    return render("phone.html", title="Sign up / 가입", action="/m/signup")


@post("/signup", media_type="text/html")
async def signup(customer_accounts: NamedDependency[CustomerAccounts], data: Form) -> Response[Any]:
    try:
        created = await to_thread.run_sync(customer_accounts.create, data.get("phone", ""))
    except FacePayError as exc:
        return _error_page("phone.html", exc, "Sign up / 가입", action="/m/signup")
    return Redirect(f"/m/verify/{created.verification_id}", status_code=303)


@get("/signin", media_type="text/html")
async def signin_page() -> Response[str]:
    return render("phone.html", title="Sign in / 로그인", action="/m/signin")


@post("/signin", media_type="text/html")
async def signin(phone_verifier: NamedDependency[PhoneVerifier], data: Form) -> Response[Any]:
    try:
        phone = normalise_phone(data.get("phone", ""))
        verification_id = await to_thread.run_sync(phone_verifier.request_code, phone)
    except FacePayError as exc:
        return _error_page("phone.html", exc, "Sign in / 로그인", action="/m/signin")
    return Redirect(f"/m/verify/{verification_id}", status_code=303)


@get("/verify/{verification_id:str}", media_type="text/html")
async def verify_page(verification_id: FromPath[str]) -> Response[str]:
    return render("verify.html", title="Verify / 인증", verification_id=verification_id)


@post("/verify/{verification_id:str}", media_type="text/html")
async def verify(
    phone_verifier: NamedDependency[PhoneVerifier],
    session_tokens: NamedDependency[SessionTokens],
    customer_services: NamedDependency[CustomerServices],
    verification_id: FromPath[str],
    data: Form,
) -> Response[Any]:
    try:
        verified = await to_thread.run_sync(
            phone_verifier.verify, verification_id, data.get("code", "")
        )
    except FacePayError as exc:
        return _error_page("verify.html", exc, "Verify / 인증", verification_id=verification_id)
    token, _ = session_tokens.issue(verified.customer_id)
    cookie = session_cookie(customer_services, token)
    return Redirect("/m/home", status_code=303, cookies=[cookie])


@get("/home", media_type="text/html")
async def home(
    customer_accounts: NamedDependency[CustomerAccounts], customer_id: CustomerId
) -> Response[Any]:
    profile = await to_thread.run_sync(customer_accounts.profile, customer_id)
    return render("home.html", title="FacePay", signed_in=True, profile=profile)


@get("/consent", media_type="text/html")
async def consent_page(
    customer_consents: NamedDependency[CustomerConsents],
    customer_id: CustomerId,
    lang: FromQuery[str] = "ko",
) -> Response[Any]:
    language = lang if lang in ("ko", "en") else "ko"
    notice = await to_thread.run_sync(customer_consents.notice, BIOMETRIC, language)
    current = await to_thread.run_sync(customer_consents.current_decision, customer_id)
    return render(
        "consent.html",
        title="생체정보 수집·이용 동의" if notice.language == "ko" else "Biometric consent",
        lang=notice.language,
        signed_in=True,
        notice=notice,
        current=current.value if current else None,
    )


@post("/consent", media_type="text/html")
async def consent(
    customer_consents: NamedDependency[CustomerConsents], customer_id: CustomerId, data: Form
) -> Response[Any]:
    try:
        await to_thread.run_sync(
            lambda: customer_consents.decide(
                customer_id,
                data.get("notice_id", ""),
                data.get("decision", ""),
                channel="mobile_web",
            )
        )
    except FacePayError as exc:
        return render("home.html", exc.status_code, title="FacePay", error=str(exc))
    return Redirect("/m/home", status_code=303)


@get("/face", media_type="text/html")
async def face_page(customer_id: CustomerId) -> Response[Any]:
    return render("face.html", title="Face / 얼굴 등록", signed_in=True)


@post("/face", media_type="text/html", request_max_body_size=MAX_UPLOAD_BYTES)
async def face(
    request: Request[Any, Any, Any],
    face_enrollment: NamedDependency[FaceEnrollment],
    customer_id: CustomerId,
) -> Response[Any]:
    try:
        await face_enrollment.enroll(customer_id, await read_photos(request))
    except FacePayError as exc:
        return _error_page("face.html", exc, "Face / 얼굴 등록", signed_in=True)
    return render("face.html", 201, title="Face / 얼굴 등록", signed_in=True, enrolled=True)


@get("/cards", media_type="text/html")
async def cards_page(
    customer_cards: NamedDependency[CustomerCards], customer_id: CustomerId
) -> Response[Any]:
    cards = await to_thread.run_sync(customer_cards.list_cards, customer_id)
    return render("cards.html", title="Cards / 카드", signed_in=True, cards=cards)


@post("/cards", media_type="text/html")
async def add_card(
    customer_cards: NamedDependency[CustomerCards],
    customer_services: NamedDependency[CustomerServices],
    customer_id: CustomerId,
) -> Response[Any]:
    # Each press of the button starts its own link; a retried press just adds one.
    key = "page:" + secrets.token_urlsafe(12)
    try:
        start = await to_thread.run_sync(
            lambda: customer_cards.begin_link(
                customer_id, return_url=customer_services.card_return_url, idempotency_key=key
            )
        )
    except FacePayError as exc:
        return render("cards.html", exc.status_code, title="Cards", error=str(exc), cards=[])
    if not start.redirect_url:
        # The processor takes the card in its own script (Stripe Elements): not on these
        # plain pages; the JSON API hands the client secret to an app instead.
        error = f"{start.processor} cards are added in the FacePay app, not on this page"
        return render("cards.html", 409, title="Cards", error=error, cards=[])
    return Redirect(start.redirect_url, status_code=303)


@get("/cards/return", media_type="text/html")
async def card_return(
    customer_cards: NamedDependency[CustomerCards], customer_id: CustomerId, link_id: FromQuery[str]
) -> Response[Any]:
    try:
        await to_thread.run_sync(customer_cards.complete_link, customer_id, link_id)
    except FacePayError as exc:
        return render("cards.html", exc.status_code, title="Cards", error=str(exc), cards=[])
    return Redirect("/m/cards", status_code=303)


@post("/cards/{method_id:str}/default", media_type="text/html")
async def default_card(
    customer_cards: NamedDependency[CustomerCards],
    customer_id: CustomerId,
    method_id: FromPath[str],
) -> Response[Any]:
    await to_thread.run_sync(customer_cards.set_default, customer_id, method_id)
    return Redirect("/m/cards", status_code=303)


@get("/qr", media_type="text/html")
async def qr_page(qr_tokens: NamedDependency[QrTokens], customer_id: CustomerId) -> Response[Any]:
    token = await to_thread.run_sync(qr_tokens.issue, customer_id)
    return render(
        "qr.html",
        title="QR",
        signed_in=True,
        png_base64=base64.b64encode(qr_png(token)).decode(),
        ttl_seconds=int(TOKEN_TTL.total_seconds()),
        refresh_seconds=QR_REFRESH_SECONDS,
    )


@get("/delete", media_type="text/html")
async def delete_page(customer_id: CustomerId) -> Response[Any]:
    return render("delete.html", title="Delete my data / 내 정보 삭제", signed_in=True)


@post("/delete", media_type="text/html")
async def delete_me(
    customer_accounts: NamedDependency[CustomerAccounts], customer_id: CustomerId
) -> Response[Any]:
    certificate = await to_thread.run_sync(
        lambda: customer_accounts.delete(customer_id, actor=f"customer:{customer_id}")
    )
    response = render(
        "delete.html",
        title="Deleted / 삭제 완료",
        certificate=certificate.body,
        signature=certificate.signature,
    )
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


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
    dependencies={"customer_id": Provide(current_customer)},
    # Only a failed session check raises this here: the visitor signs in again.
    exception_handlers={AuthenticationError: _to_sign_in},
    tags=["customer pages"],
    include_in_schema=False,
)

"""The server side of the demo: a shop owner's site and cabinet, and customers
who sign up the way the mobile pages let them (phone code, consent, face
photos, a card typed on the card network's own page)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import httpx

from facepay.bootstrap import Services
from facepay.cabinets.service import (
    create_cabinet,
    create_site,
    issue_provisioning_code,
    set_planogram,
)
from facepay.catalog.products import upsert_products
from facepay.compliance.consent import BIOMETRIC, current_notice, seed_default_notices
from facepay.notifications import messages_to
from facepay_demo.catalog import CURRENCY, HOLD_AMOUNT, server_catalog
from facepay_demo.faces import DemoFace

CODE = re.compile(r"code is (\d+)")


@dataclass(frozen=True)
class ShopSetup:
    site_id: str
    cabinets: tuple[tuple[str, str], ...]  # (cabinet id, one-time provisioning code)

    @property
    def cabinet_id(self) -> str:
        return self.cabinets[0][0]

    @property
    def provisioning_code(self) -> str:
        return self.cabinets[0][1]


def open_shop(
    services: Services, name: str = "Mangwon-dong corner", cabinets: int = 1
) -> ShopSetup:
    products, lanes = server_catalog()
    with services.sessions.begin() as session:
        seed_default_notices(session)
        site = create_site(session, name, CURRENCY)
        upsert_products(session, products)
        made = []
        for number in range(1, cabinets + 1):
            cabinet = create_cabinet(session, site.id, f"{name} fridge {number}", HOLD_AMOUNT)
            set_planogram(session, cabinet.id, lanes)
            made.append((cabinet.id, issue_provisioning_code(session, cabinet.id)))
        return ShopSetup(site.id, tuple(made))


@dataclass(frozen=True)
class DemoCustomer:
    role: str
    customer_id: str
    phone: str

    @property
    def last4(self) -> str:
        return self.phone[-4:]


def _verify_phone(services: Services, verification_id: str, phone: str) -> None:
    with services.sessions() as session:
        texts = [m.body for m in messages_to(session, phone, "phone_code")]
    match = CODE.search(texts[-1])
    assert match, texts[-1]
    services.customers.phones.verify(verification_id, match.group(1))


def link_card(services: Services, customer_id: str, pan: str) -> None:
    """The customer types the card on the sandbox network's hosted page."""
    start = services.customers.cards.begin_link(
        customer_id,
        return_url=f"{services.settings.effective_public_url}/linked",
        idempotency_key=uuid.uuid4().hex,
        processor="sandbox",
    )
    answer = httpx.post(
        start.redirect_url,
        data={"pan": pan, "exp_month": "12", "exp_year": "2031", "cvc": "123"},
        follow_redirects=False,
        timeout=30,
    )
    if answer.status_code != 303:
        raise RuntimeError(f"the card network refused the card: {answer.text[:200]}")
    services.customers.cards.complete_link(customer_id, start.link_id)


async def sign_up(
    services: Services,
    site_id: str,
    role: str,
    phone: str,
    card: str | None,
    face: DemoFace | None,
) -> DemoCustomer:
    customers = services.customers
    created = customers.accounts.create(phone, display_name=role.title(), site_ids=[site_id])
    _verify_phone(services, created.verification_id, created.phone_e164)
    if face is not None:
        with services.sessions() as session:
            notice_id = current_notice(session, BIOMETRIC).id
        customers.consents.decide(created.customer_id, notice_id, "granted", channel="mobile_web")
        await customers.enrollment.enroll(
            created.customer_id, face.phone_photos(5, seed=len(phone))
        )
    if card is not None:
        link_card(services, created.customer_id, card)
    return DemoCustomer(role, created.customer_id, created.phone_e164)

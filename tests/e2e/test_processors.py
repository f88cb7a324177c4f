"""Processors chosen by configuration, end to end: the real server under uvicorn, the
real cabinet runtime over the real WebSocket, and a card linked through the customer
API with the processor the settings name — Stripe (the local PaymentIntent double,
over real HTTP) or a card partner (the sandbox network's partner endpoint, served
on its own port). The purchase must be charged through that processor."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select
from stripe_double import StripeDouble, running_double

from card_network.app import create_sandbox_app
from card_network.config import SandboxConfig, TokenRequestor
from card_network.network import SandboxNetwork
from card_network.partner_api import PartnerApiConfig
from facepay.bootstrap import Services
from facepay.checkout.models import PurchaseSession, Receipt
from facepay.db.engine import open_database
from facepay.db.migrate import upgrade
from facepay.keys.store import init_keys
from facepay.notifications import messages_to
from facepay.processor_settings import (
    PartnerSettings,
    ProcessorSettings,
    SandboxSettings,
    StripeSettings,
)
from facepay.settings import Settings
from facepay_demo.faces import DemoFace
from facepay_demo.rig import build_rig, provision_cabinet
from facepay_demo.server import BackgroundServer, free_port
from facepay_demo.shop import ShopSetup, open_shop
from facepay_demo.visits import Pick, Visit, run_visit
from payments.partner_protocol import API_PREFIX, Keyring, PartnerKey

# The stripe SDK's httpx client posts form bodies with `data=`, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use .content=:DeprecationWarning")

PARTNER_KEY = PartnerKey(key_id="facepay-e2e-1", secret=b"e2e-partner-secret-of-32-bytes!!")
COLA_PRICE = 1500  # cola-355 in facepay_demo.catalog; the hold is 5,000 KRW
CARD_FORM = {"pan": "4242424242424242", "exp_month": "12", "exp_year": "2031", "cvc": "123"}


@dataclass
class Shop:
    services: Services
    server: BackgroundServer
    setup: ShopSetup


@contextlib.contextmanager
def serving_shop(tmp_path: Path, processors: ProcessorSettings, default: str) -> Iterator[Shop]:
    """The whole API with these processors, under uvicorn on a free port, and a shop."""
    port = free_port()
    settings = Settings(
        data_dir=tmp_path / "data",
        port=port,
        host="127.0.0.1",
        processors=processors,
        default_processor=default,
    )
    init_keys(settings.keys_dir)
    with open_database(settings.effective_database_url) as db:
        upgrade(db.engine)
    from api.app import create_app

    app = create_app(settings)
    services: Services = app.state.services
    server = BackgroundServer(app, port)
    server.start()
    try:
        yield Shop(services, server, open_shop(services))
    finally:
        server.stop()
        services.close()


@contextlib.contextmanager
def serving_partner_network() -> Iterator[tuple[str, SandboxNetwork]]:
    """The sandbox card network with its partner API, alone on its own port: a card
    partner as FacePay meets one. Yields the partner API root and the network's state."""
    config = SandboxConfig(requestors=(TokenRequestor("facepay", api_key="unused-" + "k" * 24),))
    partner = PartnerApiConfig(Keyring([PARTNER_KEY], PARTNER_KEY.key_id), "facepay")
    network = SandboxNetwork(config)
    server = BackgroundServer(create_sandbox_app(config, network, partner=partner), free_port())
    server.start()
    try:
        yield server.url + API_PREFIX, network
    finally:
        server.stop()


def sign_up_over_the_api(
    client: httpx.Client, services: Services, site_id: str, phone: str, face: DemoFace
) -> str:
    """Phone code, consent and face photos, as the mobile pages send them; returns the
    customer id and leaves the session token on the client."""
    created = client.post("/v1/customers", json={"phone": phone, "site_ids": [site_id]})
    assert created.status_code == 201, created.text
    body = created.json()
    with services.sessions() as session:
        text = messages_to(session, body["phone"], "phone_code")[-1].body
    code = text.split("code is ", 1)[1][:6]
    verify = f"/v1/phone-verifications/{body['verification_id']}/verify"
    verified = client.post(verify, json={"code": code})
    assert verified.status_code == 200, verified.text
    client.cookies.clear()
    client.headers["Authorization"] = f"Bearer {verified.json()['session_token']}"
    notice = client.get("/v1/consent-notices/biometric", params={"language": "en"}).json()
    consent = {"notice_id": notice["id"], "decision": "granted"}
    assert client.post("/v1/me/consents", json=consent).status_code == 201
    photos = [
        ("images", (f"{i}.jpg", p, "image/jpeg"))
        for i, p in enumerate(face.phone_photos(5, seed=7))
    ]
    enrolled = client.post("/v1/me/face", files=photos)
    assert enrolled.status_code == 201, enrolled.text
    customer_id: str = body["customer_id"]
    return customer_id


async def buy_one_cola(shop: Shop, tmp_path: Path, face: DemoFace, role: str) -> PurchaseSession:
    """The customer's face at the cabinet, one cola taken, the door closed."""
    state_dir = tmp_path / "cabinet"
    state_dir.mkdir()
    provision_cabinet(state_dir, shop.server.url, shop.setup.provisioning_code)
    rig = build_rig(state_dir)
    await rig.start()
    try:
        visit = Visit(
            "one cola", role, "face", face.front_frames(4, seed=3), [Pick("take", "top-1", 1)]
        )
        seen = await run_visit(rig, visit)
    finally:
        await rig.stop()
    assert seen.decision == "approve", seen
    assert seen.message == f"Paid {COLA_PRICE} KRW. Thank you!"
    with shop.services.sessions() as session:
        purchase = session.scalar(
            select(PurchaseSession).where(PurchaseSession.cabinet_session_id == seen.session_id)
        )
        assert purchase is not None
        session.expunge(purchase)
    return purchase


def receipts_of(shop: Shop, purchase_id: str) -> list[str]:
    with shop.services.sessions() as session:
        return list(session.scalars(select(Receipt.id).where(Receipt.session_id == purchase_id)))


@pytest.fixture
def stripe_double() -> Iterator[StripeDouble]:
    with running_double() as double:
        yield double


async def test_stripe_links_a_card_and_charges_a_cabinet_purchase(
    tmp_path: Path, stripe_double: StripeDouble, faces: dict[str, DemoFace]
) -> None:
    processors = ProcessorSettings(
        sandbox=SandboxSettings(),
        stripe=StripeSettings(secret_key=stripe_double.api_key, api_base=stripe_double.url),
    )
    with serving_shop(tmp_path, processors, default="stripe") as shop:
        with httpx.Client(base_url=shop.server.url, timeout=60) as client:
            customer_id = sign_up_over_the_api(
                client, shop.services, shop.setup.site_id, "+821055510001", faces["minji"]
            )
            # No processor named: the server's default, Stripe, hands out a SetupIntent.
            link = client.post("/v1/me/cards", json={}, headers={"Idempotency-Key": "stripe-1"})
            assert link.status_code == 201, link.text
            started = link.json()
            assert started["processor"] == "stripe" and started["redirect_url"] == ""
            # The same key again (a lost answer): the same link and SetupIntent.
            again = client.post("/v1/me/cards", json={}, headers={"Idempotency-Key": "stripe-1"})
            assert again.json() == started
            secret = started["client_secret"]
            assert secret.startswith("seti_") and "_secret_" in secret
            # What Stripe.js does on the phone: confirm the SetupIntent (its id is the
            # client secret's prefix) with the card the customer typed into Stripe's element.
            setup_id = secret.split("_secret_", 1)[0]
            confirmed = httpx.post(
                f"{stripe_double.url}/v1/setup_intents/{setup_id}/confirm",
                data={"payment_method": "pm_card_visa"},
                headers={"Authorization": f"Bearer {stripe_double.api_key}"},
            )
            assert confirmed.status_code == 200, confirmed.text
            card = client.post(f"/v1/me/cards/{started['link_id']}/complete")
            assert card.status_code == 200, card.text
            assert (card.json()["processor"], card.json()["last4"]) == ("stripe", "4242")
            assert card.json()["is_default"]

        purchase = await buy_one_cola(shop, tmp_path, faces["minji"], "minji")

    assert purchase.customer_id == customer_id
    assert (purchase.state, purchase.captured_amount) == ("settled", COLA_PRICE)
    assert len(receipts_of(shop, purchase.id)) == 1
    # Stripe saw one manual-capture PaymentIntent for the hold, captured for the basket.
    intents = list(stripe_double.state.intents.values())
    assert len(intents) == 1
    [intent] = intents
    assert (intent["capture_method"], intent["currency"], intent["amount"]) == (
        "manual",
        "krw",
        5000,
    )
    assert (intent["status"], intent["amount_received"]) == ("succeeded", COLA_PRICE)
    assert intent["customer"].startswith("cus_")


async def test_partner_links_a_card_and_charges_a_cabinet_purchase(
    tmp_path: Path, faces: dict[str, DemoFace]
) -> None:
    with serving_partner_network() as (partner_url, network):
        processors = ProcessorSettings(
            sandbox=SandboxSettings(),
            partner=PartnerSettings(
                base_url=partner_url,
                key_id=PARTNER_KEY.key_id,
                secret=base64.b64encode(PARTNER_KEY.secret).decode(),
            ),
        )
        with serving_shop(tmp_path, processors, default="sandbox") as shop:
            with httpx.Client(base_url=shop.server.url, timeout=60) as client:
                customer_id = sign_up_over_the_api(
                    client, shop.services, shop.setup.site_id, "+821055510002", faces["yao"]
                )
                # The partner named explicitly: its push provisioning page takes the card.
                link = client.post(
                    "/v1/me/cards",
                    json={"processor": "partner"},
                    headers={"Idempotency-Key": "partner-1"},
                )
                assert link.status_code == 201, link.text
                started = link.json()
                assert started["processor"] == "partner"
                assert started["redirect_url"].startswith(partner_url.removesuffix(API_PREFIX))
                back = httpx.post(started["redirect_url"], data=CARD_FORM, timeout=30)
                assert back.status_code == 303, back.text
                returned = urlsplit(back.headers["location"])
                assert parse_qs(returned.query)["link_id"] == [started["link_id"]]
                card = client.post(f"/v1/me/cards/{started['link_id']}/complete")
                assert card.status_code == 200, card.text
                assert (card.json()["processor"], card.json()["last4"]) == ("partner", "4242")

            purchase = await buy_one_cola(shop, tmp_path, faces["yao"], "yao")

    assert purchase.customer_id == customer_id
    assert (purchase.state, purchase.captured_amount) == ("settled", COLA_PRICE)
    assert len(receipts_of(shop, purchase.id)) == 1
    # The partner saw one hold of 5,000 KRW with a network token, captured for the basket.
    [authorization] = network.authorizations.values()
    assert (authorization.currency, authorization.authorized) == ("KRW", 5000)
    assert (authorization.status, authorization.captured) == ("captured", COLA_PRICE)
    assert authorization.pan == CARD_FORM["pan"] and authorization.token != authorization.pan

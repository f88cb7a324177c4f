"""Linking cards through the sandbox network's hosted page; a default per customer; the
processor chosen by the request, the customer's first site, or the server's default."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from test_customers_sandbox import Sandbox, fill_hosted_page, serve_sandbox
from test_customers_support import add_site, verified_customer

from facepay.compliance.models import AuditEntry
from facepay.customers.cards import CustomerCards
from facepay.customers.errors import CardLinkError
from facepay.customers.services import CustomerServices
from facepay.errors import NotFoundError, ValidationError
from payments.methods import StoredPaymentMethod
from payments.processors.sandbox import SandboxProcessor

BuildCustomerServices = Callable[..., CustomerServices]
RETURN_URL = "https://facepay.test/m/cards/return"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    yield from serve_sandbox()


@pytest.fixture
def processor(sandbox: Sandbox) -> Iterator[SandboxProcessor]:
    proc = sandbox.processor()
    yield proc
    proc.close()


@pytest.fixture
def services(
    build_customers: BuildCustomerServices, processor: SandboxProcessor
) -> CustomerServices:
    return build_customers(processors={"sandbox": processor})


def _link(cards: CustomerCards, customer_id: str, pan: str, key: str) -> str:
    start = cards.begin_link(customer_id, return_url=RETURN_URL, idempotency_key=key)
    back = fill_hosted_page(start.redirect_url, pan)
    query = parse_qs(urlsplit(back.headers["location"]).query)
    assert query["link_id"] == [start.link_id]
    return cards.complete_link(customer_id, start.link_id).id


def test_link_through_the_hosted_page(
    services: CustomerServices, sessions: sessionmaker[Session], sandbox: Sandbox
) -> None:
    cards = services.cards
    customer_id = verified_customer(services, "+821066660001")
    start = cards.begin_link(customer_id, return_url=RETURN_URL, idempotency_key="card-1")
    # The customer is sent to the network's own page; we never see the card number.
    assert start.redirect_url.startswith(f"{sandbox.url}/tsp/enroll/")
    again = cards.begin_link(customer_id, return_url=RETURN_URL, idempotency_key="card-1")
    assert again == start
    with pytest.raises(CardLinkError):  # not typed in yet
        cards.complete_link(customer_id, start.link_id)
    fill_hosted_page(start.redirect_url, "4242424242424242")
    view = cards.complete_link(customer_id, start.link_id)
    assert (view.brand, view.last4, view.exp_month, view.exp_year) == ("visa", "4242", 12, 2031)
    assert view.is_default
    assert cards.complete_link(customer_id, start.link_id) == view
    found = cards.default_payment_method(customer_id)
    assert found is not None
    method_id, method = found
    assert method_id == view.id and method.credential and method.token_ref != "4242424242424242"
    with sessions() as session:
        row = session.get(StoredPaymentMethod, view.id)
        assert row is not None and row.credential and method.credential not in row.credential
        assert session.scalar(
            select(AuditEntry).where(AuditEntry.action == "payment_method.linked")
        )
    assert services.accounts.profile(customer_id).payment_methods == ["visa ****4242 (default)"]


def test_default_card_and_bad_requests(services: CustomerServices) -> None:
    cards = services.cards
    customer_id = verified_customer(services, "+821066660002")
    first = _link(cards, customer_id, "4242424242424242", "a")
    second = _link(cards, customer_id, "5555555555554444", "b")
    views = cards.list_cards(customer_id)
    assert [(v.id, v.is_default) for v in views] == [(first, True), (second, False)]
    cards.set_default(customer_id, second)
    found = cards.default_payment_method(customer_id)
    assert found is not None and found[0] == second and found[1].brand == "mastercard"
    assert cards.default_payment_method_id(customer_id) == second
    stranger = verified_customer(services, "+821066660003")
    with pytest.raises(NotFoundError):
        cards.set_default(stranger, second)
    with pytest.raises(NotFoundError):
        cards.complete_link(stranger, "no-such-link")
    with pytest.raises(ValidationError):
        cards.begin_link(customer_id, return_url="ftp://x", idempotency_key="c")
    with pytest.raises(ValidationError):
        cards.begin_link(customer_id, return_url=RETURN_URL, idempotency_key="")
    with pytest.raises(ValidationError, match="unknown processor 'stripe'; available: sandbox"):
        cards.begin_link(
            customer_id, return_url=RETURN_URL, idempotency_key="d", processor="stripe"
        )
    assert cards.default_payment_method(stranger) is None
    assert cards.default_payment_method_id(stranger) is None


def test_processor_comes_from_the_first_site_then_the_server_default(
    build_customers: BuildCustomerServices,
    processor: SandboxProcessor,
    sessions: sessionmaker[Session],
) -> None:
    # Only "sandbox" is wired; the server default names it, a site names an unknown one.
    services = build_customers(processors={"sandbox": processor}, default_processor="sandbox")
    plain = add_site(sessions, "plain")
    elsewhere = add_site(sessions, "elsewhere", processor="partner")
    at_plain = verified_customer(services, "+821066660005", (plain,))
    start = services.cards.begin_link(at_plain, return_url=RETURN_URL, idempotency_key="p")
    assert start.processor == "sandbox"  # the site names none: the server's default
    at_elsewhere = verified_customer(services, "+821066660006", (elsewhere,))
    with pytest.raises(ValidationError, match="unknown processor 'partner'"):
        services.cards.begin_link(at_elsewhere, return_url=RETURN_URL, idempotency_key="q")
    # The request's own choice wins over the site's.
    named = services.cards.begin_link(
        at_elsewhere, return_url=RETURN_URL, idempotency_key="r", processor="sandbox"
    )
    assert named.processor == "sandbox"
    # The first site joined decides, not a later one.
    services.accounts.join_sites(at_plain, [elsewhere])
    later = services.cards.begin_link(at_plain, return_url=RETURN_URL, idempotency_key="s")
    assert later.processor == "sandbox"


def test_deleting_the_customer_removes_the_cards(
    services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id = verified_customer(services, "+821066660004")
    method_id = _link(services.cards, customer_id, "4242424242424242", "a")
    services.accounts.delete(customer_id, actor="test")
    with sessions() as session:
        row = session.get(StoredPaymentMethod, method_id)
        assert row is not None and row.status == "removed" and row.credential is None

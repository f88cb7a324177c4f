"""Linking cards through the sandbox network's hosted page; a default per customer."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from test_customers_sandbox import Sandbox, fill_hosted_page, serve_sandbox
from test_customers_support import verified_customer

from facepay.compliance.models import AuditEntry
from facepay.customers.errors import CardLinkError
from facepay.customers.payment_methods import (
    begin_card_link,
    complete_card_link,
    default_payment_method,
    default_payment_method_id,
    list_payment_methods,
    set_default_payment_method,
)
from facepay.customers.service import customer_profile, delete_customer
from facepay.errors import NotFoundError, ValidationError
from facepay.platform import Platform
from payments.methods import StoredPaymentMethod
from payments.processors.sandbox import SandboxProcessor

RETURN_URL = "https://facepay.test/m/cards/return"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    yield from serve_sandbox()


@pytest.fixture
def processor(sandbox: Sandbox) -> Iterator[SandboxProcessor]:
    proc = sandbox.processor()
    yield proc
    proc.close()


def _link(
    platform: Platform, processor: SandboxProcessor, customer_id: str, pan: str, key: str
) -> str:
    start = begin_card_link(
        platform, processor, customer_id, return_url=RETURN_URL, idempotency_key=key
    )
    back = fill_hosted_page(start.redirect_url, pan)
    query = parse_qs(urlsplit(back.headers["location"]).query)
    assert query["link_id"] == [start.link_id]
    return complete_card_link(platform, processor, customer_id, start.link_id).id


def test_link_through_the_hosted_page(
    platform: Platform, processor: SandboxProcessor, sandbox: Sandbox
) -> None:
    customer_id = verified_customer(platform, "+821066660001")
    start = begin_card_link(
        platform, processor, customer_id, return_url=RETURN_URL, idempotency_key="card-1"
    )
    # The customer is sent to the network's own page; we never see the card number.
    assert start.redirect_url.startswith(f"{sandbox.url}/tsp/enroll/")
    again = begin_card_link(
        platform, processor, customer_id, return_url=RETURN_URL, idempotency_key="card-1"
    )
    assert again == start
    with pytest.raises(CardLinkError):  # not typed in yet
        complete_card_link(platform, processor, customer_id, start.link_id)
    fill_hosted_page(start.redirect_url, "4242424242424242")
    view = complete_card_link(platform, processor, customer_id, start.link_id)
    assert (view.brand, view.last4, view.exp_month, view.exp_year) == ("visa", "4242", 12, 2031)
    assert view.is_default
    assert complete_card_link(platform, processor, customer_id, start.link_id) == view
    found = default_payment_method(platform, customer_id)
    assert found is not None
    method_id, method = found
    assert method_id == view.id and method.credential and method.token_ref != "4242424242424242"
    with platform.sessions() as session:
        row = session.get(StoredPaymentMethod, view.id)
        assert row is not None and row.credential and method.credential not in row.credential
        assert session.scalar(
            select(AuditEntry).where(AuditEntry.action == "payment_method.linked")
        )
    assert customer_profile(platform, customer_id).payment_methods == ["visa ****4242 (default)"]


def test_default_card_and_bad_requests(platform: Platform, processor: SandboxProcessor) -> None:
    customer_id = verified_customer(platform, "+821066660002")
    first = _link(platform, processor, customer_id, "4242424242424242", "a")
    second = _link(platform, processor, customer_id, "5555555555554444", "b")
    views = list_payment_methods(platform, customer_id)
    assert [(v.id, v.is_default) for v in views] == [(first, True), (second, False)]
    set_default_payment_method(platform, customer_id, second)
    found = default_payment_method(platform, customer_id)
    assert found is not None and found[0] == second and found[1].brand == "mastercard"
    assert default_payment_method_id(platform, customer_id) == second
    stranger = verified_customer(platform, "+821066660003")
    with pytest.raises(NotFoundError):
        set_default_payment_method(platform, stranger, second)
    with pytest.raises(NotFoundError):
        complete_card_link(platform, processor, stranger, "no-such-link")
    with pytest.raises(ValidationError):
        begin_card_link(platform, processor, customer_id, return_url="ftp://x", idempotency_key="c")
    with pytest.raises(ValidationError):
        begin_card_link(platform, processor, customer_id, return_url=RETURN_URL, idempotency_key="")
    assert default_payment_method(platform, stranger) is None
    assert default_payment_method_id(platform, stranger) is None


def test_deleting_the_customer_removes_the_cards(
    platform: Platform, processor: SandboxProcessor
) -> None:
    customer_id = verified_customer(platform, "+821066660004")
    method_id = _link(platform, processor, customer_id, "4242424242424242", "a")
    delete_customer(platform, customer_id, actor="test")
    with platform.sessions() as session:
        row = session.get(StoredPaymentMethod, method_id)
        assert row is not None and row.status == "removed" and row.credential is None

"""The money side of a visit, through the sandbox network mounted in the real server.

Cards are linked the way customers link them: on the network's hosted page."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from facepay.bootstrap import Services
from facepay.checkout.charging import (
    CARD_DECLINED,
    NO_CARD,
    OPEN_DEBT,
    HoldResult,
    Settlement,
)
from facepay.customers.models import Customer
from facepay_demo.shop import link_card
from payments.debt import Debt
from payments.ledger.verify import verify_ledger
from payments.money import Money

APPROVE = "4242424242424242"
DO_NOT_HONOR = "4000000000000002"
LIMIT_5000 = "4000000000003410"


def new_customer(services: Services) -> str:
    with services.sessions.begin() as session:
        customer = Customer(display_name="test")
        session.add(customer)
        session.flush()
        return customer.id


@pytest.fixture
def shop(live_services: Services, live_server: Any) -> Services:
    return live_services


def place_hold(
    services: Services, purchase_id: str, customer_id: str, cabinet_id: str, amount: Money
) -> HoldResult:
    return services.checkout.payments.hold(purchase_id, customer_id, cabinet_id, amount)


def settle_payment(
    services: Services, purchase_id: str, customer_id: str, authorization_id: str, total: Money
) -> Settlement:
    """A close while the hold is still in place (as every visit here is)."""
    return services.checkout.payments.settle(
        purchase_id, customer_id, authorization_id, total, hold_released=False
    )


def _balanced(services: Services) -> bool:
    return verify_ledger(services.payments.engine).ok


def test_hold_then_partial_capture_releases_the_rest(shop: Services) -> None:
    customer = new_customer(shop)
    link_card(shop, customer, APPROVE)
    hold = place_hold(shop, "p1", customer, "cab-1", Money(30000, "KRW"))
    assert hold.refusal is None
    assert hold.held == 30000
    assert hold.authorization_id is not None
    settled = settle_payment(shop, "p1", customer, hold.authorization_id, Money(4500, "KRW"))
    assert (settled.captured, settled.debt) == (4500, 0)
    again = settle_payment(shop, "p1", customer, hold.authorization_id, Money(4500, "KRW"))
    assert again == settled, "a repeated settlement is the same settlement"
    view = shop.payments.authorizations.get(hold.authorization_id)
    assert view.captured == 4500
    assert _balanced(shop)


def test_nothing_taken_voids_the_hold(shop: Services) -> None:
    customer = new_customer(shop)
    link_card(shop, customer, APPROVE)
    hold = place_hold(shop, "p2", customer, "cab-1", Money(30000, "KRW"))
    assert hold.authorization_id is not None
    settled = settle_payment(shop, "p2", customer, hold.authorization_id, Money(0, "KRW"))
    assert (settled.captured, settled.debt) == (0, 0)
    assert shop.payments.authorizations.get(hold.authorization_id).captured == 0
    assert _balanced(shop)


def test_basket_above_the_hold_is_incremented(shop: Services) -> None:
    customer = new_customer(shop)
    link_card(shop, customer, APPROVE)
    hold = place_hold(shop, "p3", customer, "cab-1", Money(10000, "KRW"))
    assert hold.authorization_id is not None
    settled = settle_payment(shop, "p3", customer, hold.authorization_id, Money(13500, "KRW"))
    assert (settled.captured, settled.debt) == (13500, 0)
    assert _balanced(shop)


def test_no_card_and_declined_card_refuse_the_visit(shop: Services) -> None:
    nobody = new_customer(shop)
    assert place_hold(shop, "p4", nobody, "cab-1", Money(1000, "KRW")).refusal == NO_CARD
    declined = new_customer(shop)
    link_card(shop, declined, DO_NOT_HONOR)
    assert place_hold(shop, "p5", declined, "cab-1", Money(1000, "KRW")).refusal == CARD_DECLINED


def test_unpayable_rest_becomes_debt_that_blocks_the_next_visit(shop: Services) -> None:
    customer = new_customer(shop)
    link_card(shop, customer, LIMIT_5000)
    hold = place_hold(shop, "p6", customer, "cab-1", Money(3000, "KRW"))
    assert hold.authorization_id is not None
    settled = settle_payment(shop, "p6", customer, hold.authorization_id, Money(8000, "KRW"))
    assert settled.captured == 3000
    assert settled.debt == 5000
    again = settle_payment(shop, "p6", customer, hold.authorization_id, Money(8000, "KRW"))
    assert again == settled
    with shop.payments.engine.connect() as connection:
        debts = connection.execute(select(Debt.amount).where(Debt.customer_ref == customer)).all()
    assert [d.amount for d in debts] == [5000]
    assert place_hold(shop, "p7", customer, "cab-1", Money(1000, "KRW")).refusal == OPEN_DEBT
    assert _balanced(shop)


def test_the_hold_uses_the_card_the_customer_chose(shop: Services) -> None:
    customer = new_customer(shop)
    link_card(shop, customer, APPROVE)
    link_card(shop, customer, DO_NOT_HONOR)
    assert place_hold(shop, "p8", customer, "cab-1", Money(1000, "KRW")).refusal is None
    declining = next(m for m in shop.customers.cards.list_cards(customer) if not m.is_default)
    shop.customers.cards.set_default(customer, declining.id)
    assert place_hold(shop, "p9", customer, "cab-1", Money(1000, "KRW")).refusal == CARD_DECLINED

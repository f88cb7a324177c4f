"""Loading a customer who may still act: the check every customer service starts with."""

from __future__ import annotations

from sqlalchemy.orm import Session

from facepay.customers.errors import CustomerDeletedError, CustomerNotFoundError
from facepay.customers.models import Customer


def load_customer(session: Session, customer_id: str, *, for_update: bool = False) -> Customer:
    """An active customer, or CustomerNotFoundError / CustomerDeletedError."""
    customer = session.get(Customer, customer_id, with_for_update=for_update)
    if customer is None:
        raise CustomerNotFoundError(f"no customer {customer_id!r}")
    if customer.status != "active":
        raise CustomerDeletedError(f"customer {customer_id} has been deleted")
    return customer

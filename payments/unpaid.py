"""Goods taken against a hold that was declined: the amount becomes a customer debt.

A capture declined after goods were taken already becomes debt inside
``AuthorizationService.capture``. This covers the other case: a second charge
whose own hold was declined. Idempotent per authorization and reason.
"""

from __future__ import annotations

from sqlalchemy import Engine, select

from payments.authorizations.models import Authorization
from payments.authorizations.postings import Postings
from payments.db import write_transaction
from payments.debt import Debt, new_debt
from payments.errors import InvalidRequestError, NotFoundError
from payments.money import Money


def record_unpaid_goods(engine: Engine, authorization_id: str, amount: Money, reason: str) -> str:
    amount.require_positive()
    with write_transaction(engine) as session:
        auth = session.get(Authorization, authorization_id, with_for_update=True)
        if auth is None:
            raise NotFoundError(f"no authorization {authorization_id!r}")
        if auth.currency != amount.currency:
            raise InvalidRequestError("debt currency differs from the authorization's")
        existing = session.scalar(
            select(Debt.id).where(Debt.authorization_id == authorization_id, Debt.reason == reason)
        )
        if existing is not None:
            return existing
        debt = new_debt(session, auth.customer_ref, auth.id, amount, reason)
        session.flush()
        Postings(session).debt(auth, debt.id, amount.amount)
        return debt.id

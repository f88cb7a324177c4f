"""Destroying a customer's face data: templates deleted, data key shredded, audited.

Shared by consent withdrawal and account deletion, which run it inside their
own transaction and publish the change after the commit.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete
from sqlalchemy.orm import Session

from facepay.compliance import audit
from facepay.customers.data_keys import shred_data_key
from facepay.customers.models import Customer, FaceTemplate


def rowcount(result: Result[Any]) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def destroy_biometrics(session: Session, customer: Customer, *, reason: str) -> tuple[int, bool]:
    """Delete the templates and shred the data key: (templates deleted, key shredded)."""
    templates = rowcount(
        session.execute(delete(FaceTemplate).where(FaceTemplate.customer_id == customer.id))
    )
    had_key = customer.wrapped_data_key is not None
    shred_data_key(customer)
    session.flush()
    if templates or had_key:
        audit.append(
            session,
            actor=f"customer:{customer.id}",
            action="biometrics.destroyed",
            subject=customer.id,
            details={
                "templates_deleted": templates,
                "data_key_shredded": had_key,
                "reason": reason,
            },
        )
    return templates, had_key

"""State transitions of an authorization: validation before a step, and applying a
processor outcome to the authorization, the ledger and (for failed captures) debts.
Pure functions over a session; the service decides when they run."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.authorizations.models import Authorization, AuthStatus, Operation, OpStatus, Purpose
from payments.authorizations.postings import Postings
from payments.db import utcnow
from payments.debt import debt_is_open, mark_repaid, new_debt
from payments.errors import (
    DebtAlreadySettledError,
    InvalidRequestError,
    NotFoundError,
    OperationInProgressError,
)
from payments.money import Money
from payments.processor import DeclineCode, OperationKind, Outcome


@dataclass(frozen=True, slots=True)
class AuthorizationView:
    id: str
    customer_ref: str
    status: str
    currency: str
    requested: int
    held: int
    captured: int
    refunded: int
    decline_code: str | None
    processor_ref: str | None


@dataclass(frozen=True, slots=True)
class OperationResult:
    kind: str
    approved: bool
    decline_code: str | None
    message: str
    authorization: AuthorizationView
    debt_id: str | None = None


def view_of(auth: Authorization) -> AuthorizationView:
    return AuthorizationView(
        id=auth.id,
        customer_ref=auth.customer_ref,
        status=auth.status,
        currency=auth.currency,
        requested=auth.requested,
        held=auth.held,
        captured=auth.captured,
        refunded=auth.refunded,
        decline_code=auth.decline_code,
        processor_ref=auth.processor_ref,
    )


def op_by_key(session: Session, key: str) -> Operation | None:
    return session.scalars(select(Operation).where(Operation.processor_key == key)).first()


def lock_auth(session: Session, auth_id: str) -> Authorization:
    auth = session.scalars(
        select(Authorization)
        .where(Authorization.id == auth_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if auth is None:
        raise NotFoundError(f"no authorization {auth_id!r}")
    return auth


def new_op(
    session: Session, auth: Authorization, kind: OperationKind, key: str, amount: Money
) -> Operation:
    op = Operation(
        id="op_" + secrets.token_hex(10),
        authorization_id=auth.id,
        kind=kind.value,
        processor_key=key,
        amount=amount.amount,
        currency=amount.currency,
        status=OpStatus.INTENT.value,
        goods_taken=False,
        decline_code=None,
        message="",
        created_at=utcnow(),
        completed_at=None,
    )
    session.add(op)
    session.flush()
    return op


def check_follow_up(
    session: Session, auth: Authorization, kind: OperationKind, amount: Money | None
) -> None:
    busy = session.scalars(
        select(Operation.id).where(
            Operation.authorization_id == auth.id, Operation.status == OpStatus.INTENT.value
        )
    ).first()
    if busy is not None:
        raise OperationInProgressError(f"operation {busy} on {auth.id} has no outcome yet")
    if amount is not None and amount.currency != auth.currency:
        raise InvalidRequestError(f"authorization is in {auth.currency}")
    if (
        kind is OperationKind.CAPTURE
        and auth.purpose == Purpose.DEBT_RETRY.value
        and not debt_is_open(session, auth.reference)
    ):
        raise DebtAlreadySettledError(f"{auth.reference} was settled meanwhile; void the hold")
    if kind is OperationKind.REFUND:
        if auth.status != AuthStatus.CAPTURED.value:
            raise InvalidRequestError(f"cannot refund an authorization that is {auth.status}")
        assert amount is not None
        if amount.amount > auth.captured - auth.refunded:
            raise InvalidRequestError(
                f"refund of {amount.amount} exceeds the {auth.captured - auth.refunded} "
                "captured and not yet refunded"
            )
        return
    if auth.status != AuthStatus.HELD.value:
        raise InvalidRequestError(f"authorization is {auth.status}, not held")
    if kind is OperationKind.CAPTURE and amount is not None and amount.amount > auth.held:
        raise InvalidRequestError(
            f"capture of {amount.amount} exceeds the hold of {auth.held}; increment first"
        )


def apply_outcome(
    postings: Postings, session: Session, op: Operation, auth: Authorization, outcome: Outcome
) -> str | None:
    """Move the authorization and the ledger to reflect the outcome. Returns a new debt id."""
    kind = OperationKind(op.kind)
    if kind is OperationKind.AUTHORIZE:
        if outcome.approved:
            auth.processor_ref = outcome.authorization_ref
            auth.held = op.amount
            auth.status = AuthStatus.HELD.value
            postings.hold(auth, op.id, op.amount)
        else:
            auth.status = AuthStatus.DECLINED.value
            auth.decline_code = outcome.decline_code.value if outcome.decline_code else None
        return None
    if kind is OperationKind.INCREMENT:
        if outcome.approved:
            auth.held += op.amount
            postings.hold(auth, op.id, op.amount)
        return None
    if kind is OperationKind.CAPTURE:
        if outcome.approved:
            auth.captured = op.amount
            auth.status = AuthStatus.CAPTURED.value
            if auth.purpose == Purpose.DEBT_RETRY.value:
                # the debt row before the ledger accounts: the lock order staff settlement uses
                mark_repaid(session, auth.reference, auth.id)
            postings.capture(auth, op.id, op.amount)
            return None
        auth.decline_code = outcome.decline_code.value if outcome.decline_code else None
        if not op.goods_taken:
            return None
        postings.void(auth, op.id, code="capture_failed")
        auth.status = AuthStatus.CAPTURE_FAILED.value
        debt = new_debt(
            session,
            auth.customer_ref,
            auth.id,
            Money(op.amount, op.currency),
            f"capture declined: {auth.decline_code}",
        )
        session.flush()
        postings.debt(auth, debt.id, op.amount)
        return debt.id
    if kind is OperationKind.VOID:
        # A hold the processor no longer has (expired there) is released here too.
        if outcome.approved or outcome.decline_code is DeclineCode.AUTHORIZATION_NOT_ACTIVE:
            postings.void(auth, op.id)
            auth.status = AuthStatus.VOIDED.value
        return None
    if outcome.approved:  # refund
        auth.refunded += op.amount
        postings.refund(auth, op.id, op.amount)
    return None


def result_of(op: Operation, auth: Authorization, debt_id: str | None = None) -> OperationResult:
    return OperationResult(
        kind=op.kind,
        approved=op.status == OpStatus.SUCCEEDED.value,
        decline_code=op.decline_code,
        message=op.message,
        authorization=view_of(auth),
        debt_id=debt_id,
    )

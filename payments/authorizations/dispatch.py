"""Turn a journalled operation into the processor call that performs it (same key)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from payments.authorizations.models import Authorization, Operation
from payments.methods import PaymentMethodStore
from payments.money import Money
from payments.processor import OperationKind, Outcome, Processor


def processor_call(
    session: Session,
    methods: PaymentMethodStore,
    processor: Processor,
    op: Operation,
    auth: Authorization,
) -> Callable[[], Outcome]:
    """The call to send, bound now so it can run after the session is closed."""
    kind, key, amount = OperationKind(op.kind), op.processor_key, Money(op.amount, op.currency)
    if kind is OperationKind.AUTHORIZE:
        _, method = methods.load(session, auth.payment_method_id)
        merchant = auth.merchant_ref
        return lambda: processor.authorize(
            payment_method=method, amount=amount, merchant_ref=merchant, idempotency_key=key
        )
    ref = auth.processor_ref
    if ref is None:
        raise ValueError(f"{kind} on an authorization the processor never confirmed")
    calls: dict[OperationKind, Callable[[], Outcome]] = {
        OperationKind.INCREMENT: lambda: processor.increment_authorization(
            authorization_ref=ref, additional=amount, idempotency_key=key
        ),
        OperationKind.CAPTURE: lambda: processor.capture(
            authorization_ref=ref, amount=amount, idempotency_key=key
        ),
        OperationKind.VOID: lambda: processor.void(authorization_ref=ref, idempotency_key=key),
        OperationKind.REFUND: lambda: processor.refund(
            authorization_ref=ref, amount=amount, idempotency_key=key
        ),
    }
    return calls[kind]

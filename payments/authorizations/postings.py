"""How authorization events move money in the ledger (one currency per authorization).

hold       pending  customer_payment_token -> processor_clearing
increment  another pending of the same kind (ledger entries are never edited)
capture    post the pendings up to the captured amount (the rest is released), then
           clearing -> merchant_payable (minus fee) and -> platform_fee_revenue;
           for a debt retry, clearing -> customer_debt instead
void       void every open pending
refund     merchant_payable -> customer_payment_token
debt       customer_debt -> merchant_payable (goods were taken but the capture failed)
write-off  platform_write_off -> customer_debt (staff settled the debt)
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.authorizations.models import Authorization, Purpose
from payments.ledger import AccountKind, Ledger, LedgerTransfer, Phase
from payments.money import Money

HOLD_CODE = "hold"


class Postings:
    def __init__(self, session: Session, fee_bps: int = 0) -> None:
        self.session = session
        self.ledger = Ledger(session)
        self.fee_bps = fee_bps

    def _account(self, kind: AccountKind, owner: str, currency: str) -> str:
        return self.ledger.open_account(kind, owner, currency)

    def _token(self, auth: Authorization) -> str:
        return self._account(
            AccountKind.CUSTOMER_PAYMENT_TOKEN, auth.payment_method_id, auth.currency
        )

    def _clearing(self, auth: Authorization) -> str:
        return self._account(AccountKind.PROCESSOR_CLEARING, auth.processor, auth.currency)

    def _merchant(self, auth: Authorization) -> str:
        return self._account(AccountKind.MERCHANT_PAYABLE, auth.merchant_ref, auth.currency)

    def debt_account(self, customer_ref: str, currency: str) -> str:
        return self._account(AccountKind.CUSTOMER_DEBT, customer_ref, currency)

    def _open_holds(self, auth: Authorization) -> list[LedgerTransfer]:
        resolved = select(LedgerTransfer.pending_id).where(LedgerTransfer.pending_id.is_not(None))
        return list(
            self.session.scalars(
                select(LedgerTransfer)
                .where(
                    LedgerTransfer.reference == auth.id,
                    LedgerTransfer.phase == Phase.PENDING.value,
                    LedgerTransfer.code == HOLD_CODE,
                    LedgerTransfer.id.not_in(resolved),
                )
                .order_by(LedgerTransfer.created_at, LedgerTransfer.id)
            )
        )

    def hold(self, auth: Authorization, op_id: str, amount: int) -> None:
        self.ledger.pend(
            f"{op_id}:hold",
            self._token(auth),
            self._clearing(auth),
            Money(amount, auth.currency),
            code=HOLD_CODE,
            reference=auth.id,
        )

    def capture(self, auth: Authorization, op_id: str, amount: int) -> None:
        remaining = amount
        for i, pending in enumerate(self._open_holds(auth)):
            part = min(remaining, pending.amount)
            self.ledger.post_pending(
                f"{op_id}:post:{i}", pending.id, Money(part, auth.currency), code="capture"
            )
            remaining -= part
        assert remaining == 0, "captured more than the ledger held"
        if amount == 0:
            return
        clearing = self._clearing(auth)
        if auth.purpose == Purpose.DEBT_RETRY.value:
            debt = self.debt_account(auth.customer_ref, auth.currency)
            self.ledger.transfer(
                f"{op_id}:settle-debt",
                clearing,
                debt,
                Money(amount, auth.currency),
                code="debt_repaid",
                reference=auth.id,
            )
            return
        fee = amount * self.fee_bps // 10_000
        if amount - fee:
            self.ledger.transfer(
                f"{op_id}:merchant",
                clearing,
                self._merchant(auth),
                Money(amount - fee, auth.currency),
                code="sale",
                reference=auth.id,
            )
        if fee:
            fee_acc = self._account(AccountKind.PLATFORM_FEE_REVENUE, "platform", auth.currency)
            self.ledger.transfer(
                f"{op_id}:fee",
                clearing,
                fee_acc,
                Money(fee, auth.currency),
                code="fee",
                reference=auth.id,
            )

    def void(self, auth: Authorization, op_id: str, code: str = "void") -> None:
        for i, pending in enumerate(self._open_holds(auth)):
            self.ledger.void_pending(f"{op_id}:void:{i}", pending.id, code=code)

    def refund(self, auth: Authorization, op_id: str, amount: int) -> None:
        self.ledger.transfer(
            f"{op_id}:refund",
            self._merchant(auth),
            self._token(auth),
            Money(amount, auth.currency),
            code="refund",
            reference=auth.id,
        )

    def debt(self, auth: Authorization, debt_id: str, amount: int) -> None:
        self.ledger.transfer(
            f"{debt_id}:open",
            self.debt_account(auth.customer_ref, auth.currency),
            self._merchant(auth),
            Money(amount, auth.currency),
            code="debt",
            reference=debt_id,
        )

    def write_off(self, customer_ref: str, debt_id: str, amount: Money) -> None:
        write_off = self._account(AccountKind.PLATFORM_WRITE_OFF, "platform", amount.currency)
        self.ledger.transfer(
            f"{debt_id}:write-off",
            write_off,
            self.debt_account(customer_ref, amount.currency),
            amount,
            code="debt_written_off",
            reference=debt_id,
        )

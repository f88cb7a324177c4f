"""Writing to the ledger inside the caller's unit of work.

Call these inside ``payments.db.write_transaction`` (SQLite: ``BEGIN IMMEDIATE``);
on PostgreSQL the touched accounts are locked ``FOR UPDATE`` in id order, so
concurrent writers serialise per account without deadlocking.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from payments.db import utcnow
from payments.errors import InvalidRequestError, NotFoundError, TransferRejectedError
from payments.ledger.models import AccountFlag, AccountKind, LedgerAccount, LedgerTransfer, Phase
from payments.money import Money, check_currency

MAX_ID_LENGTH = 200


def account_id(kind: AccountKind, owner_ref: str, currency: str) -> str:
    return f"{kind.value}:{owner_ref}:{currency}"


@dataclass(frozen=True, slots=True)
class Balance:
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int

    @property
    def net_debit_posted(self) -> int:
        return self.debits_posted - self.credits_posted


class Ledger:
    """The ledger as seen from one session/transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # accounts -------------------------------------------------------------

    def open_account(
        self,
        kind: AccountKind,
        owner_ref: str,
        currency: str,
        flags: AccountFlag = AccountFlag.NONE,
    ) -> str:
        """Create the account if missing (safe under concurrency); return its id."""
        check_currency(currency)
        if not owner_ref:
            raise InvalidRequestError("account owner_ref must not be empty")
        acc_id = account_id(kind, owner_ref, currency)
        if len(acc_id) > MAX_ID_LENGTH:
            raise InvalidRequestError("account owner_ref too long")
        values = {
            "id": acc_id,
            "kind": kind.value,
            "owner_ref": owner_ref,
            "currency": currency,
            "flags": int(flags),
            "debits_pending": 0,
            "debits_posted": 0,
            "credits_pending": 0,
            "credits_posted": 0,
            "created_at": utcnow(),
        }
        is_pg = self.session.get_bind().dialect.name == "postgresql"
        insert = pg_insert if is_pg else sqlite_insert
        self.session.execute(
            insert(LedgerAccount).values(**values).on_conflict_do_nothing(index_elements=["id"])
        )
        return acc_id

    def balance(self, acc_id: str) -> Balance:
        acc = self.session.get(LedgerAccount, acc_id, populate_existing=True)
        if acc is None:
            raise NotFoundError(f"no ledger account {acc_id!r}")
        return Balance(
            acc.debits_pending, acc.debits_posted, acc.credits_pending, acc.credits_posted
        )

    # transfers ------------------------------------------------------------

    def transfer(
        self,
        transfer_id: str,
        debit: str,
        credit: str,
        amount: Money,
        *,
        code: str = "",
        reference: str = "",
    ) -> LedgerTransfer:
        """A single-phase transfer, posted immediately."""
        return self._create(transfer_id, debit, credit, amount, Phase.SINGLE, code, reference)

    def pend(
        self,
        transfer_id: str,
        debit: str,
        credit: str,
        amount: Money,
        *,
        code: str = "",
        reference: str = "",
        timeout: timedelta | None = None,
    ) -> LedgerTransfer:
        """Reserve ``amount``; resolve later with ``post_pending`` or ``void_pending``."""
        if timeout is not None and timeout <= timedelta(0):
            raise InvalidRequestError("timeout must be positive")
        timeout_at = utcnow() + timeout if timeout is not None else None
        return self._create(
            transfer_id,
            debit,
            credit,
            amount,
            Phase.PENDING,
            code,
            reference,
            timeout_at=timeout_at,
        )

    def post_pending(
        self,
        transfer_id: str,
        pending_id: str,
        amount: Money | None = None,
        *,
        code: str = "",
        reference: str = "",
        now: datetime | None = None,
    ) -> LedgerTransfer:
        """Post ``amount`` (default: all) of a pending transfer; the remainder is released."""
        return self._resolve(transfer_id, pending_id, Phase.POST, amount, code, reference, now)

    def void_pending(
        self,
        transfer_id: str,
        pending_id: str,
        *,
        code: str = "",
        reference: str = "",
        now: datetime | None = None,
    ) -> LedgerTransfer:
        return self._resolve(transfer_id, pending_id, Phase.VOID, None, code, reference, now)

    def resolution_of(self, pending_id: str) -> LedgerTransfer | None:
        return self.session.scalars(
            select(LedgerTransfer).where(LedgerTransfer.pending_id == pending_id)
        ).first()

    def expire_pending(self, now: datetime | None = None, limit: int = 1000) -> list[str]:
        """Void pending transfers past their timeout; returns the voided pending ids."""
        now = now or utcnow()
        resolved = select(LedgerTransfer.pending_id).where(LedgerTransfer.pending_id.is_not(None))
        expired = self.session.scalars(
            select(LedgerTransfer.id)
            .where(
                LedgerTransfer.phase == Phase.PENDING.value,
                LedgerTransfer.timeout_at.is_not(None),
                LedgerTransfer.timeout_at <= now,
                LedgerTransfer.id.not_in(resolved),
            )
            .order_by(LedgerTransfer.id)
            .limit(limit)
        ).all()
        for pid in expired:
            self._resolve(f"{pid}:expired", pid, Phase.VOID, None, "expired", "", now, expiry=True)
        return list(expired)

    # internals ------------------------------------------------------------

    def _lock_accounts(self, *ids: str) -> dict[str, LedgerAccount]:
        rows = self.session.scalars(
            select(LedgerAccount)
            .where(LedgerAccount.id.in_(sorted(set(ids))))
            .order_by(LedgerAccount.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        found = {row.id: row for row in rows}
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFoundError(f"no ledger account {missing[0]!r}")
        return found

    def _existing(self, transfer_id: str) -> LedgerTransfer | None:
        if not transfer_id or len(transfer_id) > MAX_ID_LENGTH:
            raise InvalidRequestError("transfer id must be 1-200 characters")
        return self.session.get(LedgerTransfer, transfer_id)

    def _existing_after_lock(self, transfer_id: str) -> LedgerTransfer | None:
        # A concurrent writer may have committed the same id while we waited for the lock.
        return self.session.scalars(
            select(LedgerTransfer)
            .where(LedgerTransfer.id == transfer_id)
            .execution_options(populate_existing=True)
        ).first()

    def _create(
        self,
        transfer_id: str,
        debit: str,
        credit: str,
        amount: Money,
        phase: Phase,
        code: str,
        reference: str,
        *,
        timeout_at: datetime | None = None,
    ) -> LedgerTransfer:
        amount.require_positive()
        if debit == credit:
            raise InvalidRequestError("debit and credit accounts must differ")
        existing = self._existing(transfer_id)
        if existing is not None:
            same = (
                existing.phase == phase.value
                and (existing.debit_account_id, existing.credit_account_id) == (debit, credit)
                and (existing.amount, existing.currency) == (amount.amount, amount.currency)
            )
            if not same:
                raise TransferRejectedError(f"transfer {transfer_id!r} exists with other fields")
            return existing
        accounts = self._lock_accounts(debit, credit)
        dr, cr = accounts[debit], accounts[credit]
        for acc in (dr, cr):
            if acc.currency != amount.currency:
                raise TransferRejectedError(f"account {acc.id} is {acc.currency}")
        raced = self._existing_after_lock(transfer_id)
        if raced is not None:
            return self._create(transfer_id, debit, credit, amount, phase, code, reference)
        a = amount.amount
        if phase is Phase.PENDING:
            _apply(dr, cr, pending=a, posted=0)
        else:
            _apply(dr, cr, pending=0, posted=a)
        row = LedgerTransfer(
            id=transfer_id,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=a,
            currency=amount.currency,
            phase=phase.value,
            pending_id=None,
            timeout_at=timeout_at,
            code=code,
            reference=reference,
            created_at=utcnow(),
        )
        self.session.add(row)
        self.session.flush()
        return row

    def _resolve(
        self,
        transfer_id: str,
        pending_id: str,
        phase: Phase,
        amount: Money | None,
        code: str,
        reference: str,
        now: datetime | None,
        *,
        expiry: bool = False,
    ) -> LedgerTransfer:
        existing = self._existing(transfer_id)
        if existing is not None:
            if (
                existing.pending_id != pending_id
                or existing.phase != phase.value
                or (amount is not None and existing.amount != amount.amount)
            ):
                raise TransferRejectedError(f"transfer {transfer_id!r} exists with other fields")
            return existing
        pending = self.session.get(LedgerTransfer, pending_id)
        if pending is None or pending.phase != Phase.PENDING.value:
            raise NotFoundError(f"no pending transfer {pending_id!r}")
        accounts = self._lock_accounts(pending.debit_account_id, pending.credit_account_id)
        if self._existing_after_lock(transfer_id) is not None:
            return self._resolve(transfer_id, pending_id, phase, amount, code, reference, now)
        # Checked after the lock so two resolvers cannot both see it open.
        done = self.resolution_of(pending_id)
        if done is not None:
            raise TransferRejectedError(f"pending transfer {pending_id!r} already {done.phase}ed")
        now = now or utcnow()
        if not expiry and pending.timeout_at is not None and pending.timeout_at <= now:
            raise TransferRejectedError(f"pending transfer {pending_id!r} has expired")
        posted = 0
        if phase is Phase.POST:
            posted = pending.amount if amount is None else amount.amount
            if amount is not None and amount.currency != pending.currency:
                raise TransferRejectedError("currency differs from the pending transfer")
            if not 0 <= posted <= pending.amount:
                raise TransferRejectedError(
                    f"cannot post {posted} of a pending transfer of {pending.amount}"
                )
        dr, cr = accounts[pending.debit_account_id], accounts[pending.credit_account_id]
        _apply(dr, cr, pending=-pending.amount, posted=posted)
        row = LedgerTransfer(
            id=transfer_id,
            debit_account_id=pending.debit_account_id,
            credit_account_id=pending.credit_account_id,
            amount=posted,
            currency=pending.currency,
            phase=phase.value,
            pending_id=pending_id,
            timeout_at=None,
            code=code,
            reference=reference or pending.reference,
            created_at=now,
        )
        self.session.add(row)
        self.session.flush()
        return row


def _apply(dr: LedgerAccount, cr: LedgerAccount, *, pending: int, posted: int) -> None:
    """Move both sides' balances, refusing (before changing anything) to break a flag."""
    d_pending, d_posted = dr.debits_pending + pending, dr.debits_posted + posted
    c_pending, c_posted = cr.credits_pending + pending, cr.credits_posted + posted
    if dr.flags & AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS and (
        d_pending + d_posted > dr.credits_posted
    ):
        raise TransferRejectedError(f"account {dr.id}: debits would exceed credits")
    if cr.flags & AccountFlag.CREDITS_MUST_NOT_EXCEED_DEBITS and (
        c_pending + c_posted > cr.debits_posted
    ):
        raise TransferRejectedError(f"account {cr.id}: credits would exceed debits")
    dr.debits_pending, dr.debits_posted = d_pending, d_posted
    cr.credits_pending, cr.credits_posted = c_pending, c_posted

"""Prove the ledger is consistent: recompute every balance from the append-only transfers.

Runs as a handful of aggregate queries inside one snapshot, so it scales to millions
of entries and is not fooled by writers committing while it runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    and_,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from payments.ledger.models import AccountFlag, LedgerAccount, LedgerTransfer, Phase

MAX_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class CurrencyTotals:
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int

    @property
    def balanced(self) -> bool:
        return (
            self.debits_posted == self.credits_posted
            and self.debits_pending == self.credits_pending
        )


@dataclass(slots=True)
class LedgerReport:
    accounts_checked: int = 0
    transfers_checked: int = 0
    totals: dict[str, CurrencyTotals] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


@contextmanager
def _snapshot(source: Session | Engine) -> Iterator[Connection]:
    if isinstance(source, Session):
        yield source.connection()
        return
    with source.connect() as conn:
        if source.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        elif source.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # one read snapshot for every query below
        try:
            yield conn
        finally:
            conn.rollback()


def verify_ledger(source: Session | Engine) -> LedgerReport:
    """Check double entry per currency, materialised balances, resolutions and flags."""
    report = LedgerReport()
    with _snapshot(source) as conn:
        _check_entries(conn, report)
        _check_resolutions(conn, report)
        _check_balances(conn, report)
    return report


def _check_entries(conn: Connection, report: LedgerReport) -> None:
    t = LedgerTransfer.__table__
    dr, cr = aliased(LedgerAccount), aliased(LedgerAccount)
    report.transfers_checked = conn.scalar(select(func.count()).select_from(t)) or 0
    bad_currency = conn.execute(
        select(LedgerTransfer.id)
        .join(dr, dr.id == LedgerTransfer.debit_account_id)
        .join(cr, cr.id == LedgerTransfer.credit_account_id)
        .where((dr.currency != LedgerTransfer.currency) | (cr.currency != LedgerTransfer.currency))
        .limit(MAX_PROBLEMS)
    ).scalars()
    for tid in bad_currency:
        report.add(f"transfer {tid}: currency differs from its accounts")
    non_positive = conn.execute(
        select(LedgerTransfer.id)
        .where(
            LedgerTransfer.phase.in_([Phase.SINGLE.value, Phase.PENDING.value]),
            LedgerTransfer.amount <= 0,
        )
        .limit(MAX_PROBLEMS)
    ).scalars()
    for tid in non_positive:
        report.add(f"transfer {tid}: non-positive amount")


def _check_resolutions(conn: Connection, report: LedgerReport) -> None:
    res, pend = aliased(LedgerTransfer), aliased(LedgerTransfer)
    rows = conn.execute(
        select(res.id, res.phase, res.amount, pend.id, pend.phase, pend.amount)
        .outerjoin(pend, pend.id == res.pending_id)
        .where(
            res.phase.in_([Phase.POST.value, Phase.VOID.value]),
            (pend.id.is_(None))
            | (pend.phase != Phase.PENDING.value)
            | (res.amount > pend.amount)
            | ((res.phase == Phase.VOID.value) & (res.amount != 0))
            | (res.debit_account_id != pend.debit_account_id)
            | (res.credit_account_id != pend.credit_account_id)
            | (res.currency != pend.currency),
        )
        .limit(MAX_PROBLEMS)
    ).all()
    for rid, *_ in rows:
        report.add(f"transfer {rid}: invalid resolution of its pending transfer")


def _check_balances(conn: Connection, report: LedgerReport) -> None:
    t = aliased(LedgerTransfer)
    resolution = aliased(LedgerTransfer)
    posted = (Phase.SINGLE.value, Phase.POST.value)
    open_pending = and_(t.phase == Phase.PENDING.value, resolution.id.is_(None))
    names = ("acc", "debits_posted", "credits_posted", "debits_pending", "credits_pending")

    def leg(account: InstrumentedAttribute[str], slot: int, where: ColumnElement[bool]) -> Any:
        values = [t.amount if i == slot else literal(0, BigInteger) for i in range(1, 5)]
        cols = [account, *values]
        query = select(*(c.label(n) for c, n in zip(cols, names, strict=True)))
        if where is open_pending:
            query = query.outerjoin(resolution, resolution.pending_id == t.id)
        return query.where(where)

    legs = union_all(
        leg(t.debit_account_id, 1, t.phase.in_(posted)),
        leg(t.credit_account_id, 2, t.phase.in_(posted)),
        leg(t.debit_account_id, 3, open_pending),
        leg(t.credit_account_id, 4, open_pending),
    ).subquery()
    cols = list(legs.c)
    recomputed = {
        row[0]: tuple(int(v) for v in row[1:])
        for row in conn.execute(select(cols[0], *(func.sum(c) for c in cols[1:])).group_by(cols[0]))
    }
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    accounts = conn.execute(
        select(
            LedgerAccount.id,
            LedgerAccount.currency,
            LedgerAccount.flags,
            LedgerAccount.debits_posted,
            LedgerAccount.credits_posted,
            LedgerAccount.debits_pending,
            LedgerAccount.credits_pending,
        )
    )
    for acc_id, currency, flags, d_post, c_post, d_pend, c_pend in accounts:
        report.accounts_checked += 1
        stored = (d_post, c_post, d_pend, c_pend)
        expected = recomputed.pop(acc_id, (0, 0, 0, 0))
        if stored != expected:
            report.add(f"account {acc_id}: balances {stored} but entries give {expected}")
        if flags & AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS and d_post + d_pend > c_post:
            report.add(f"account {acc_id}: debits exceed credits")
        if flags & AccountFlag.CREDITS_MUST_NOT_EXCEED_DEBITS and c_post + c_pend > d_post:
            report.add(f"account {acc_id}: credits exceed debits")
        # Totals from the materialised balances: entries balance by construction (every
        # transfer has two legs), so this is where a broken balance shows per currency.
        total = sums[currency]
        for i, value in enumerate(stored):
            total[i] += value
    for acc_id in recomputed:
        report.add(f"entries reference unknown account {acc_id}")
    for currency, (d_post, c_post, d_pend, c_pend) in sorted(sums.items()):
        totals = CurrencyTotals(d_post, c_post, d_pend, c_pend)
        report.totals[currency] = totals
        if not totals.balanced:
            report.add(f"{currency}: debits {d_post}/{d_pend} != credits {c_post}/{c_pend}")

"""Double-entry ledger with immutable, two-phase transfers (TigerBeetle-style)."""

from payments.ledger.models import AccountFlag, AccountKind, LedgerAccount, LedgerTransfer, Phase
from payments.ledger.service import Ledger, account_id
from payments.ledger.verify import LedgerReport, verify_ledger

__all__ = [
    "AccountFlag",
    "AccountKind",
    "Ledger",
    "LedgerAccount",
    "LedgerReport",
    "LedgerTransfer",
    "Phase",
    "account_id",
    "verify_ledger",
]

"""``verify`` as a command: prints the report and exits non-zero on any imbalance.

The platform's ``facepay ledger verify`` calls ``verify_command``; it also runs alone:
``python -m payments.ledger.cli --database-url sqlite:///var/facepay.db``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from payments.db import create_payments_engine
from payments.ledger.verify import LedgerReport, verify_ledger


def format_report(report: LedgerReport, seconds: float | None = None) -> str:
    lines = [
        f"accounts: {report.accounts_checked}  transfers: {report.transfers_checked}"
        + (f"  ({seconds:.2f} s)" if seconds is not None else "")
    ]
    for currency, t in report.totals.items():
        lines.append(
            f"{currency}: posted debits {t.debits_posted} credits {t.credits_posted}; "
            f"pending debits {t.debits_pending} credits {t.credits_pending}"
            f" -> {'balanced' if t.balanced else 'IMBALANCED'}"
        )
    lines.extend(f"PROBLEM: {p}" for p in report.problems)
    lines.append("ledger OK" if report.ok else "ledger INCONSISTENT")
    return "\n".join(lines)


def verify_command(database_url: str, out: TextIO = sys.stdout) -> int:
    engine = create_payments_engine(database_url)
    try:
        start = time.perf_counter()
        report = verify_ledger(engine)
        print(format_report(report, time.perf_counter() - start), file=out)
        return 0 if report.ok else 1
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify the payments ledger")
    parser.add_argument("--database-url", required=True)
    return verify_command(parser.parse_args(argv).database_url)


if __name__ == "__main__":
    raise SystemExit(main())

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from facepay.db.engine import make_engine
from facepay.db.migrate import head_revision, migration_state, upgrade
from facepay.db.models import all_metadata
from payments.db import create_payments_engine, write_transaction
from payments.ledger.models import AccountKind
from payments.ledger.service import Ledger
from payments.money import Money

EXPECTED_TABLES = {
    "customers",
    "phone_links",
    "consent_notices",
    "consent_records",
    "cabinets",
    "sites",
    "products",
    "planograms",
    "inventory_levels",
    "purchase_sessions",
    "receipts",
    "audit_log",
    "face_templates",
}


def test_upgrade_empty_database_to_head(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert migration_state(engine).current is None
        upgrade(engine)
        state = migration_state(engine)
        assert state.is_current
        assert state.current == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert tables >= EXPECTED_TABLES
        payment_tables = {t for m in all_metadata()[1:] for t in m.tables}
        assert payment_tables, "the payments metadata must be part of the migration environment"
        assert tables >= payment_tables
        upgrade(engine)  # a second upgrade is a no-op
    finally:
        engine.dispose()


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = [
                diff
                for metadata in all_metadata()
                for diff in compare_metadata(context, metadata)
                if not _belongs_to_other_metadata(diff, metadata)
            ]
        assert differences == []
    finally:
        engine.dispose()


def _belongs_to_other_metadata(diff: object, metadata: object) -> bool:
    # compare_metadata against one MetaData reports the other's tables as
    # "remove_table"; those are covered when the other MetaData is compared.
    if isinstance(diff, tuple) and diff and diff[0] == "remove_table":
        return any(diff[1].name in m.tables for m in all_metadata() if m is not metadata)
    if isinstance(diff, tuple) and diff and diff[0] == "remove_index":
        table = diff[1].table.name
        return any(table in m.tables for m in all_metadata() if m is not metadata)
    return False


def test_migrated_ledger_refuses_edits(database_url: str) -> None:
    engine = make_engine(database_url)
    payments_engine = create_payments_engine(database_url)
    try:
        upgrade(engine)
        with write_transaction(payments_engine) as session:
            ledger = Ledger(session)
            debit = ledger.open_account(AccountKind.CUSTOMER_DEBT, "c1", "KRW")
            credit = ledger.open_account(AccountKind.MERCHANT_PAYABLE, "m1", "KRW")
            ledger.transfer("t1", debit, credit, Money(1500, "KRW"))
        with engine.connect() as connection:
            for statement in (
                "UPDATE payments_ledger_transfers SET amount = 0",
                "DELETE FROM payments_ledger_transfers",
            ):
                with pytest.raises(DBAPIError, match="append-only"):
                    connection.execute(text(statement))
                connection.rollback()
    finally:
        engine.dispose()
        payments_engine.dispose()

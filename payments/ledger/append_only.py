"""Database triggers that refuse UPDATE and DELETE on ledger transfers.

The code never edits an entry; these make the database refuse it too, whoever asks.
They are attached to table creation (``create_all``); Alembic autogenerate does not see
DDL events, so the migration that creates the table must run ``append_only_ddl`` too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, event

from payments.ledger.models import LedgerTransfer

TABLE = LedgerTransfer.__tablename__
MESSAGE = "ledger entries are append-only"

_SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_{op.lower()} BEFORE {op} ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
    for op in ("UPDATE", "DELETE")
]
_POSTGRES = [
    f"CREATE OR REPLACE FUNCTION {TABLE}_refuse() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$",
    f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
    f"FOR EACH ROW EXECUTE FUNCTION {TABLE}_refuse()",
]


def append_only_ddl(dialect_name: str) -> list[str]:
    """The statements for one dialect (for a migration: ``op.execute`` each)."""
    return {"sqlite": _SQLITE, "postgresql": _POSTGRES}.get(dialect_name, [])


def _install(target: Table, connection: Connection, **_: Any) -> None:
    for statement in append_only_ddl(connection.dialect.name):
        connection.exec_driver_sql(statement)


event.listen(LedgerTransfer.__table__, "after_create", _install)

"""Ledger transfers are append-only: the database refuses UPDATE and DELETE.

Autogenerate does not see DDL events, so this revision is written by hand
(and kept when 0001 is regenerated).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

from payments.ledger.append_only import append_only_ddl

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "payments_ledger_transfers"


def upgrade() -> None:
    for statement in append_only_ddl(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_append_only ON {_TABLE}")
        op.execute(f"DROP FUNCTION IF EXISTS {_TABLE}_refuse()")
    else:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_no_{action}")

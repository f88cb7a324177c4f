"""The one Alembic environment for the whole database (server + payments tables)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Engine

from facepay.db.models import all_metadata

config = context.config
target_metadata = all_metadata()


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Custom column types are rendered as their plain implementation so that
    # migrations never import application code.
    if type_ == "type" and hasattr(obj, "impl") and obj.__class__.__module__ != "sqlalchemy":
        impl = obj.impl
        return f"sa.{impl!r}"
    return False


def run_migrations() -> None:
    engine: Engine = config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            render_item=_render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations()

"""The payments package's own SQLAlchemy metadata and transaction helpers.

Payments owns its tables: they live on ``PaymentsBase.metadata``, which the server's
single Alembic environment includes. Tests may use ``payments_metadata().create_all``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import DateTime, Dialect, Engine, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Every module that defines payments tables; imported so the metadata is complete.
MODEL_MODULES: tuple[str, ...] = (
    "payments.ledger.models",
    "payments.ledger.append_only",
    "payments.idempotency",
    "payments.methods",
    "payments.authorizations.models",
    "payments.debt",
)
OPTIONAL_MODEL_MODULES = ("payments.webhook_models",)


class PaymentsBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def payments_metadata() -> MetaData:
    """Import every payments model module and return the metadata holding their tables."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    for name in OPTIONAL_MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return PaymentsBase.metadata


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_payments_engine(url: str, **kwargs: object) -> Engine:
    """An engine suitable for the payments package (PostgreSQL via psycopg 3, or SQLite)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, **kwargs)
    if is_sqlite(engine):
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Session]:
    """A session whose transaction may write, committed on success, rolled back on error.

    On SQLite the transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers
    queue for the write lock up front instead of failing to upgrade a read lock.
    On PostgreSQL callers take row locks with ``SELECT ... FOR UPDATE``.
    """
    with Session(engine, expire_on_commit=False) as session:
        if is_sqlite(engine):
            conn = session.connection()
            conn.exec_driver_sql("PRAGMA busy_timeout=30000")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; columns store UTC-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)

"""Engines and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the single writer; busy_timeout makes writers
    # queue instead of failing at once; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock at BEGIN so read-then-write transactions cannot
    # deadlock on lock upgrade; pysqlite's own BEGIN handling is disabled below.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: URL | str, **kwargs: Any) -> Engine:
    """An engine with the per-backend settings the platform relies on."""
    if isinstance(url, str):
        from facepay.settings import parse_database_url

        url = parse_database_url(url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            # A fresh connection per checkout: opening SQLite costs microseconds,
            # and a pooled handle would keep "working" on a file that is gone.
            poolclass=kwargs.pop("poolclass", NullPool),
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _disable_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@dataclass(frozen=True)
class Database:
    engine: Engine
    sessions: sessionmaker[Session]


@contextmanager
def open_database(url: URL) -> Iterator[Database]:
    """The database alone, for commands that need nothing else."""
    engine = make_engine(url)
    try:
        yield Database(engine, make_session_factory(engine))
    finally:
        engine.dispose()

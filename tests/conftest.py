"""Fixtures shared by every test package: databases and services.

PostgreSQL and Redis tests run when FACEPAY_TEST_DATABASE_URL /
FACEPAY_TEST_REDIS_URL are set (CI sets both) and skip otherwise. When a URL is
set but the service does not answer, the test fails instead of skipping, so a
broken CI service can never pass as "skipped".
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_ENV = "FACEPAY_TEST_DATABASE_URL"
REDIS_ENV = "FACEPAY_TEST_REDIS_URL"
REQUIRE_ENV = "FACEPAY_TEST_REQUIRE_SERVICES"


def _skip_or_fail(reason: str) -> NoReturn:
    """Skip a service test locally; in CI (REQUIRE_ENV set) a missing service fails."""
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{reason}, but {REQUIRE_ENV} says services are required")
    pytest.skip(reason)


def _psycopg_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        _skip_or_fail(f"{POSTGRES_ENV} is not set")
    admin_url = _psycopg_url(base)
    name = f"facepay_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Run a test once on SQLite and once on PostgreSQL (when configured)."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        _skip_or_fail(f"{REDIS_ENV} is not set")
    return url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of one's own; every key under it is deleted afterwards."""
    import redis

    prefix = f"facepay-test-{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture
def live_settings(tmp_path: Path, database_url: str) -> Any:
    """Settings on a migrated database with keys, whose public URL is a free local port."""
    from facepay.db.engine import open_database
    from facepay.db.migrate import upgrade
    from facepay.keys.store import init_keys
    from facepay.settings import Settings
    from facepay_demo.server import free_port

    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, port=free_port(), host="127.0.0.1"
    )
    init_keys(settings.keys_dir)
    with open_database(settings.effective_database_url) as db:
        upgrade(db.engine)
    return settings


@pytest.fixture
def live_app(live_settings: Any) -> Iterator[Any]:
    """The whole API (the bootstrap's graph inside), not yet serving."""
    from api.app import create_app

    app = create_app(live_settings)
    yield app
    app.state.services.close()  # idempotent: the server's shutdown closes it too


@pytest.fixture
def live_services(live_app: Any) -> Any:
    """The services the live server runs on (facepay.bootstrap.Services)."""
    return live_app.state.services


@pytest.fixture
def live_server(live_app: Any) -> Iterator[Any]:
    """The whole API, sandbox card network included, under uvicorn on a free port."""
    from facepay_demo.server import BackgroundServer

    server = BackgroundServer(live_app, live_app.state.services.settings.port)
    server.start()
    yield server
    server.stop()

"""Fixtures for the payments tests: an engine with the payments tables on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from payments.db import create_payments_engine, payments_metadata


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_payments_engine(database_url)
    payments_metadata().create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    eng = create_payments_engine(sqlite_url)
    payments_metadata().create_all(eng)
    yield eng
    eng.dispose()

"""Fixtures for the server core: settings on a temporary data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facepay.db.migrate import upgrade
from facepay.keys.store import init_keys

from facepay.settings import Settings


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def platform(settings: Settings) -> Iterator[Any]:
    from facepay.platform import Platform

    """A migrated database and fresh keys, on SQLite and on PostgreSQL."""
    init_keys(settings.keys_dir)
    platform = Platform(settings)
    upgrade(platform.engine)
    yield platform
    platform.close()

"""A real server for API tests: the Litestar app under uvicorn on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import LiveServer, free_port

from api.app import create_app
from facepay.db.migrate import upgrade
from facepay.keys.store import init_keys
from facepay.platform import Platform
from facepay.settings import Settings


@pytest.fixture
def live_platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    port = free_port()
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, port=port, host="127.0.0.1"
    )
    init_keys(settings.keys_dir)
    platform = Platform(settings)
    upgrade(platform.engine)
    yield platform
    platform.close()


@pytest.fixture
def live_server(live_platform: Platform) -> Iterator[LiveServer]:
    server = LiveServer(create_app(live_platform), live_platform.settings.port)
    server.start()
    yield server
    server.stop()

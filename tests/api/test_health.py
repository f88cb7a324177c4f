from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy.engine import make_url
from tcp_proxy import TcpProxy

from api.app import create_app
from facepay.db.engine import open_database
from facepay.db.migrate import upgrade
from facepay.keys.store import init_keys
from facepay.settings import Settings


def _ready(settings: Settings) -> Settings:
    """Keys made and the database migrated, as `facepay keys init` and `db upgrade` do."""
    init_keys(settings.keys_dir)
    with open_database(settings.effective_database_url) as db:
        upgrade(db.engine)
    return settings


def test_healthz_and_openapi(tmp_path: Path) -> None:
    settings = _ready(Settings(data_dir=tmp_path))
    with TestClient(app=create_app(settings)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        schema = client.get("/schema/openapi.json").json()
        assert "/readyz" in schema["paths"]


def test_readyz_reports_each_part(tmp_path: Path) -> None:
    settings = _ready(Settings(data_dir=tmp_path))
    with TestClient(app=create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    assert {c["name"] for c in body["checks"]} == {"database", "migrations", "keys", "model_pack"}


def test_readyz_fails_without_keys_and_behind_migrations(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    # The bootstrap loads the keys when the app is built (a server never starts without
    # them); readiness reads them again on every probe, so they go away after that.
    init_keys(settings.keys_dir)
    app = create_app(settings)
    shutil.rmtree(settings.keys_dir)
    with TestClient(app=app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    failed = {c["name"] for c in response.json()["checks"] if not c["ok"]}
    assert failed == {"migrations", "keys"}


def test_readyz_follows_an_sqlite_file_that_goes_away(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{db_dir}/fp.db")
    _ready(settings)
    with TestClient(app=create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        db_dir.rename(tmp_path / "db-away")  # the volume is gone
        down = client.get("/readyz")
        assert down.status_code == 503
        checks = {c["name"]: c for c in down.json()["checks"]}
        assert not checks["database"]["ok"]
        (tmp_path / "db-away").rename(db_dir)
        assert client.get("/readyz").status_code == 200


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    url = make_url(postgres_url)
    relay = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    relay.start()
    proxied = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    yield relay, proxied
    relay.close()


@pytest.mark.postgres
def test_readyz_503_while_postgres_is_unreachable(
    tmp_path: Path, proxy: tuple[TcpProxy, str]
) -> None:
    relay, proxied_url = proxy
    settings = _ready(Settings(data_dir=tmp_path, database_url=proxied_url))
    with TestClient(app=create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        relay.stop()
        down = client.get("/readyz")
        assert down.status_code == 503
        assert not {c["name"]: c for c in down.json()["checks"]}["database"]["ok"]
        relay.start()
        assert client.get("/readyz").status_code == 200


def test_unknown_route_is_a_problem_document(tmp_path: Path) -> None:
    settings = _ready(Settings(data_dir=tmp_path))
    with TestClient(app=create_app(settings)) as client:
        response = client.get("/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404

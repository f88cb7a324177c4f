"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from sqlalchemy import Engine

from facepay.health import run_checks
from facepay.settings import Settings


class CheckOut(msgspec.Struct):
    name: str
    ok: bool
    detail: str


class Readiness(msgspec.Struct):
    ready: bool
    checks: list[CheckOut]


@get("/healthz", sync_to_thread=False, tags=["health"])
def healthz() -> dict[str, str]:
    """The process is up. Says nothing about its dependencies."""
    return {"status": "ok"}


@get("/readyz", sync_to_thread=True, tags=["health"])
def readyz(settings: NamedDependency[Settings], engine: NamedDependency[Engine]) -> Response[Any]:
    """Database reachable, migrations current, keys present, model pack loadable."""
    checks = run_checks(settings, engine)
    body = Readiness(
        ready=all(c.ok for c in checks),
        checks=[CheckOut(c.name, c.ok, c.detail) for c in checks],
    )
    return Response(body, status_code=HTTP_200_OK if body.ready else HTTP_503_SERVICE_UNAVAILABLE)

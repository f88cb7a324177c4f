"""Builds the Litestar application; nothing else happens here."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from api.health import healthz, readyz
from api.problems import EXCEPTION_HANDLERS
from facepay.platform import Platform
from facepay.settings import load_settings


def create_app(platform: Platform) -> Litestar:
    return Litestar(
        route_handlers=[healthz, readyz],
        state=State({"platform": platform}),
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(title="FacePay", version="0.1.0", path="/schema"),
        on_shutdown=[platform.close],
    )


def create_app_from_environment() -> Litestar:
    """The factory `facepay serve` hands to uvicorn."""
    return create_app(Platform(load_settings()))

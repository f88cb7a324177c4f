"""Fixtures for the server core: settings on a temporary data directory, a migrated database,
fresh keys, and the customer services built the way the server builds them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from biometrics.engine import FaceEngine
from facepay.customers.events import ChangeBus
from facepay.customers.services import CustomerServices, build_customer_services
from facepay.db.engine import make_engine, make_session_factory
from facepay.db.migrate import upgrade
from facepay.keys.store import ServerKeys, init_keys, load_keys
from facepay.notifications import ConsoleOutboxProvider
from facepay.settings import Settings
from payments.db import create_payments_engine
from payments.methods import CredentialCipher, PaymentMethodStore
from payments.processor import Processor

BuildCustomerServices = Callable[..., CustomerServices]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def server_keys(settings: Settings) -> ServerKeys:
    init_keys(settings.keys_dir)
    return load_keys(settings.keys_dir)


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """A migrated database, on SQLite and on PostgreSQL."""
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def changes() -> ChangeBus:
    return ChangeBus()


@pytest.fixture
def payment_methods(settings: Settings) -> Iterator[PaymentMethodStore]:
    engine = create_payments_engine(
        settings.effective_database_url.render_as_string(hide_password=False)
    )
    yield PaymentMethodStore(engine, CredentialCipher(os.urandom(32)))
    engine.dispose()


@pytest.fixture
def build_customers(
    settings: Settings,
    sessions: sessionmaker[Session],
    server_keys: ServerKeys,
    changes: ChangeBus,
    payment_methods: PaymentMethodStore,
) -> BuildCustomerServices:
    """``build_customer_services`` with random keys; keyword arguments override any part."""

    def build(**overrides: Any) -> CustomerServices:
        processors: Mapping[str, Processor] = overrides.pop("processors", {})
        parts: dict[str, Any] = {
            "settings": settings,
            "sessions": sessions,
            "kek": server_keys.kek,
            "signing_key": server_keys.signing_key,
            "session_key": os.urandom(32),
            "qr_key": os.urandom(32),
            "phone_code_key": os.urandom(32),
            "notifier": ConsoleOutboxProvider(),
            "changes": changes,
            "processors": processors,
            "methods": payment_methods,
            "default_processor": "sandbox",
            "face_engine": FaceEngine.load,
        }
        parts.update(overrides)
        return build_customer_services(**parts)

    return build


@pytest.fixture
def customer_services(build_customers: BuildCustomerServices) -> CustomerServices:
    return build_customers()

"""The customer surfaces (JSON API, pages, receipts) as the server mounts them, under uvicorn
on a free port, with the sandbox card network over real HTTP. Imported by module name."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from sqlalchemy.orm import Session, sessionmaker

from api.customers import dependencies, route_handlers
from api.problems import EXCEPTION_HANDLERS
from biometrics.engine import FaceEngine
from facepay.customers.events import ChangeBus
from facepay.customers.services import CustomerServices, build_customer_services
from facepay.db.engine import make_engine, make_session_factory
from facepay.db.migrate import upgrade
from facepay.keys.store import init_keys, load_keys
from facepay.notifications import ConsoleOutboxProvider
from facepay.settings import Settings
from facepay_demo.server import BackgroundServer, free_port
from payments.db import create_payments_engine
from payments.methods import CredentialCipher, PaymentMethodStore

sys.path.insert(0, str(Path(__file__).parents[1] / "facepay"))
from test_customers_sandbox import Sandbox, serve_sandbox


@dataclass(frozen=True)
class CustomerServer:
    url: str
    services: CustomerServices
    sessions: sessionmaker[Session]
    sandbox: Sandbox


def customer_app(services: CustomerServices) -> Litestar:
    """What the server's create_app mounts for customers, and nothing else."""
    return Litestar(
        route_handlers=list(route_handlers),
        dependencies=dependencies(services),
        exception_handlers=dict(EXCEPTION_HANDLERS),
        openapi_config=OpenAPIConfig(title="FacePay", version="test", path="/schema"),
    )


@contextmanager
def serve_customers(data_dir: Path, database_url: str) -> Iterator[CustomerServer]:
    port = free_port()
    settings = Settings(data_dir=data_dir, database_url=database_url, host="127.0.0.1", port=port)
    init_keys(settings.keys_dir)
    keys = load_keys(settings.keys_dir)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    payments_engine = create_payments_engine(
        settings.effective_database_url.render_as_string(hide_password=False)
    )
    sandbox_network = serve_sandbox()
    sandbox = next(sandbox_network)
    processor = sandbox.processor()
    services = build_customer_services(
        settings=settings,
        sessions=sessions,
        kek=keys.kek,
        signing_key=keys.signing_key,
        session_key=os.urandom(32),
        qr_key=os.urandom(32),
        phone_code_key=os.urandom(32),
        notifier=ConsoleOutboxProvider(),
        changes=ChangeBus(),
        processors={"sandbox": processor},
        methods=PaymentMethodStore(payments_engine, CredentialCipher(os.urandom(32))),
        default_processor="sandbox",
        face_engine=FaceEngine.load,
    )
    server = BackgroundServer(customer_app(services), port)
    server.start()
    try:
        yield CustomerServer(server.url, services, sessions, sandbox)
    finally:
        server.stop()
        processor.close()
        next(sandbox_network, None)
        payments_engine.dispose()
        engine.dispose()

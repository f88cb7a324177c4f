"""Fixtures for the payments tests: an engine with the payments tables on each backend,
and the sandbox network over real HTTP (from ``sandbox_network_server``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sandbox_network_server import (
    SandboxServer,
    enroll,
    notify_receiver,
    processor,
    sandbox,
)
from sqlalchemy import Engine

from payments.db import create_payments_engine, payments_metadata
from payments.processor import PaymentMethod
from payments.processors.sandbox import SandboxProcessor

__all__ = ["enroll", "notify_receiver", "processor", "sandbox"]


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


# --- the authorization service on a database + the sandbox network -------------


@dataclass
class PaymentsEnv:
    engine: Engine
    sandbox: SandboxServer
    processor: SandboxProcessor
    methods: Any
    service: Any
    enroll: Callable[..., PaymentMethod]

    def link(self, pan: str = "4242424242424242", customer_ref: str | None = None) -> str:
        customer = customer_ref or f"cust-{uuid.uuid4().hex[:8]}"
        method = self.enroll(pan, customer_ref=customer)
        pm_id: str = self.methods.save(customer, method)
        return pm_id


@pytest.fixture
def payments_env(
    engine: Engine,
    sandbox: SandboxServer,
    processor: SandboxProcessor,
    enroll: Callable[..., PaymentMethod],
) -> PaymentsEnv:
    from payments.authorizations.service import AuthorizationService
    from payments.methods import CredentialCipher, PaymentMethodStore

    methods = PaymentMethodStore(engine, CredentialCipher(CredentialCipher.generate_key()))
    service = AuthorizationService(engine, {"sandbox": processor}, methods, fee_bps=250)
    return PaymentsEnv(engine, sandbox, processor, methods, service, enroll)

"""The payments library wired for this server: processors, stores and services.

The embedded default processor is the sandbox card network, mounted in-process
by the API at ``SANDBOX_MOUNT`` and reached over HTTP like a real network. Its
token-requestor API key and the versioned key that encrypts token credentials
come from the server's secret store, so embedded defaults need no setup.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from facepay.keys.secrets import PAYMENT_CREDENTIALS, SANDBOX_REQUESTOR
from facepay.keys.store import ServerKeys
from facepay.settings import Settings
from payments.authorizations.service import AuthorizationService
from payments.db import create_payments_engine
from payments.debt import DebtService
from payments.methods import CredentialCipher, PaymentMethodStore
from payments.processor import Processor
from payments.processors.sandbox import SandboxProcessor
from payments.sandbox.config import SandboxConfig, TokenRequestor

SANDBOX_MOUNT = "/sandbox-network"
TOKEN_REQUESTOR_ID = "facepay"  # noqa: S105 - an identifier, not a secret
MERCHANT_ID = "facepay-cabinets"


def sandbox_api_key(settings: Settings, keys: ServerKeys) -> str:
    return settings.sandbox_api_key or keys.secrets.current(SANDBOX_REQUESTOR)[1].hex()


def sandbox_url(settings: Settings) -> str:
    return settings.sandbox_network_url or settings.effective_public_url.rstrip("/") + SANDBOX_MOUNT


def sandbox_config(settings: Settings, keys: ServerKeys) -> SandboxConfig:
    """The in-process network's configuration: FacePay is its one token requestor."""
    return SandboxConfig(
        requestors=(
            TokenRequestor(
                requestor_id=TOKEN_REQUESTOR_ID, api_key=sandbox_api_key(settings, keys)
            ),
        ),
        public_url=settings.effective_public_url.rstrip("/") + SANDBOX_MOUNT,
    )


@dataclass
class PaymentServices:
    engine: Engine
    processors: dict[str, Processor]
    methods: PaymentMethodStore
    authorizations: AuthorizationService
    debts: DebtService

    def close(self) -> None:
        for processor in self.processors.values():
            close = getattr(processor, "close", None)
            if close is not None:
                close()
        self.engine.dispose()


def build_payment_services(settings: Settings, keys: ServerKeys) -> PaymentServices:
    # Payments opens its own transactions (BEGIN IMMEDIATE on SQLite), so it gets
    # its own engine on the same database rather than the server's.
    engine = create_payments_engine(
        settings.effective_database_url.render_as_string(hide_password=False)
    )
    processors: dict[str, Processor] = {
        "sandbox": SandboxProcessor(
            base_url=sandbox_url(settings),
            requestor_id=TOKEN_REQUESTOR_ID,
            api_key=sandbox_api_key(settings, keys),
            merchant_id=MERCHANT_ID,
        )
    }
    methods = PaymentMethodStore(
        engine, CredentialCipher(keys.secrets.versions_of(PAYMENT_CREDENTIALS))
    )
    authorizations = AuthorizationService(engine, processors, methods)
    return PaymentServices(
        engine=engine,
        processors=processors,
        methods=methods,
        authorizations=authorizations,
        debts=DebtService(engine, authorizations),
    )

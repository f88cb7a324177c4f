"""The payments library wired for this server: processors, stores and services.

The processors are the ones ``Settings.processors`` enables (sandbox, stripe,
partner). The embedded default is the sandbox card network alone, mounted
in-process by the API at ``SANDBOX_MOUNT`` and reached over HTTP like a real
network. Its token-requestor API key and the versioned key that encrypts token
credentials come from the server's secret store, so embedded defaults need no setup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from sqlalchemy import Engine

from facepay.keys.secrets import PAYMENT_CREDENTIALS, SANDBOX_REQUESTOR
from facepay.keys.store import ServerKeys
from facepay.processor_settings import PartnerSettings, StripeSettings
from facepay.settings import Settings
from payments.authorizations.service import AuthorizationService
from payments.db import create_payments_engine
from payments.debt import DebtService
from payments.methods import CredentialCipher, PaymentMethodStore
from payments.partner_protocol import Keyring, PartnerKey
from payments.processor import Processor
from payments.processors.partner_processor import PartnerConfig, PartnerProcessor
from payments.processors.sandbox import SandboxProcessor
from payments.processors.stripe_processor import StripeConfig, StripeProcessor

SANDBOX_MOUNT = "/sandbox-network"
TOKEN_REQUESTOR_ID = "facepay"  # noqa: S105 - an identifier, not a secret
MERCHANT_ID = "facepay-cabinets"


def sandbox_api_key(settings: Settings, keys: ServerKeys) -> str:
    return settings.sandbox_api_key or keys.secrets.current(SANDBOX_REQUESTOR)[1].hex()


def sandbox_url(settings: Settings) -> str:
    return settings.sandbox_network_url or settings.effective_public_url.rstrip("/") + SANDBOX_MOUNT


@dataclass
class PaymentServices:
    engine: Engine
    processors: dict[str, Processor]
    methods: PaymentMethodStore
    authorizations: AuthorizationService
    debts: DebtService
    default_processor: str  # a site may name another (Site.default_processor)

    def close(self) -> None:
        for processor in self.processors.values():
            close = getattr(processor, "close", None)
            if close is not None:
                close()
        self.engine.dispose()


def build_payment_services(
    settings: Settings, keys: ServerKeys, *, processors: Mapping[str, Processor] | None = None
) -> PaymentServices:
    """``processors`` replaces the configured ones (tests put a double at this edge)."""
    # Payments opens its own transactions (BEGIN IMMEDIATE on SQLite), so it gets
    # its own engine on the same database rather than the server's.
    engine = create_payments_engine(
        settings.effective_database_url.render_as_string(hide_password=False)
    )
    if processors is None:
        processors = configured_processors(settings, keys)
    methods = PaymentMethodStore(
        engine, CredentialCipher(keys.secrets.versions_of(PAYMENT_CREDENTIALS))
    )
    authorizations = AuthorizationService(engine, processors, methods)
    return PaymentServices(
        engine=engine,
        processors=dict(processors),
        methods=methods,
        authorizations=authorizations,
        debts=DebtService(engine, authorizations),
        default_processor=settings.default_processor,
    )


def configured_processors(settings: Settings, keys: ServerKeys) -> dict[str, Processor]:
    processors: dict[str, Processor] = {}
    if settings.processors.sandbox is not None:
        processors["sandbox"] = SandboxProcessor(
            base_url=sandbox_url(settings),
            requestor_id=TOKEN_REQUESTOR_ID,
            api_key=sandbox_api_key(settings, keys),
            merchant_id=MERCHANT_ID,
        )
    processors.update(external_processors(settings))
    return processors


def external_processors(
    settings: Settings, *, timeout_seconds: float | None = None
) -> dict[str, Processor]:
    """The enabled processors that need no key of this server (Stripe, a card partner).
    ``timeout_seconds`` overrides their defaults (``facepay doctor`` probes briefly)."""
    processors: dict[str, Processor] = {}
    if settings.processors.stripe is not None:
        processors["stripe"] = stripe_processor(settings.processors.stripe, timeout_seconds)
    if settings.processors.partner is not None:
        processors["partner"] = partner_processor(settings.processors.partner, timeout_seconds)
    return processors


def stripe_processor(stripe: StripeSettings, timeout_seconds: float | None) -> StripeProcessor:
    config = StripeConfig(api_key=stripe.secret_key, api_base=stripe.api_base)
    if timeout_seconds is not None:
        config = replace(config, timeout_seconds=timeout_seconds, max_network_retries=0)
    return StripeProcessor(config)


def partner_processor(partner: PartnerSettings, timeout_seconds: float | None) -> PartnerProcessor:
    # One key today; the partner protocol verifies with any key of a ring, so rotation
    # means adding the next key here while the partner accepts both.
    key = PartnerKey(key_id=partner.key_id, secret=partner.secret_bytes)
    keyring = Keyring([key], key.key_id)
    config = PartnerConfig(base_url=partner.base_url, keyring=keyring)
    if timeout_seconds is not None:
        config = replace(config, timeout_seconds=timeout_seconds)
    return PartnerProcessor(config)

"""The customer services, built together from the collaborators they use.

The server's bootstrap calls ``build_customer_services`` once; the API and the
commands receive the resulting ``CustomerServices`` and use its parts. Keys are
passed as bytes (HMAC keys of their own purpose), never derived here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session, sessionmaker

from biometrics.engine import FaceEngine
from facepay.customers.accounts import CustomerAccounts
from facepay.customers.cards import CustomerCards
from facepay.customers.consents import CustomerConsents
from facepay.customers.enrollment import FaceEnrollment, passive_liveness
from facepay.customers.events import ChangeBus
from facepay.customers.phone_verification import PhoneVerifier
from facepay.customers.qr import QrTokens
from facepay.customers.session_tokens import SessionTokens
from facepay.keys.kek import KeyEncryptionKey
from facepay.notifications import NotificationProvider
from facepay.settings import Settings
from payments.methods import PaymentMethodStore
from payments.processor import Processor


@dataclass(frozen=True)
class CustomerServices:
    accounts: CustomerAccounts
    phones: PhoneVerifier
    session_tokens: SessionTokens
    consents: CustomerConsents
    enrollment: FaceEnrollment
    cards: CustomerCards
    qr: QrTokens
    public_url: str  # where the customer's pages are; card links return there

    @property
    def card_return_url(self) -> str:
        return self.public_url.rstrip("/") + "/m/cards/return"


def build_customer_services(
    *,
    settings: Settings,
    sessions: sessionmaker[Session],
    kek: KeyEncryptionKey,
    signing_key: Ed25519PrivateKey,
    session_key: bytes,
    qr_key: bytes,
    phone_code_key: bytes,
    notifier: NotificationProvider,
    changes: ChangeBus,
    processors: Mapping[str, Processor],
    methods: PaymentMethodStore,
    default_processor: str,
    face_engine: Callable[[], FaceEngine],
) -> CustomerServices:
    """``signing_key`` signs deletion certificates; ``face_engine`` is called per enrollment
    (cheap after the first call); the passive anti-spoofing model is the one the settings
    name, if any."""
    for name, key in (("session", session_key), ("qr", qr_key), ("phone code", phone_code_key)):
        if not isinstance(key, bytes) or len(key) < 32:
            raise ValueError(f"the customer {name} key must be bytes, at least 32 of them")
    phones = PhoneVerifier(sessions, notifier, phone_code_key)
    return CustomerServices(
        accounts=CustomerAccounts(sessions, phones, changes, signing_key),
        phones=phones,
        session_tokens=SessionTokens(sessions, session_key),
        consents=CustomerConsents(sessions, changes),
        enrollment=FaceEnrollment(
            sessions, kek, changes, face_engine, passive_check=passive_liveness(settings)
        ),
        cards=CustomerCards(sessions, processors, methods, default_processor),
        qr=QrTokens(sessions, qr_key),
        public_url=settings.effective_public_url,
    )

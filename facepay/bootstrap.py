"""The one place where the server's services are built, each once, from the settings.

Every service receives the session factory and the collaborators it uses, never a bag
of everything. The edges can be replaced (a processor, the notifier, the cabinet link,
the clock): the API passes its channels-backed cabinet link, tests pass fakes, and the
graph between them is the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from biometrics.engine import FaceEngine
from biometrics.model_pack import inspect_pack
from facepay.background import Recovery
from facepay.cabinets.delivery import CabinetLink, OfflineCabinetLink
from facepay.cabinets.provisioning import Provisioning
from facepay.checkout.build import Checkout, build_checkout
from facepay.checkout.purchases import Clock, PurchaseBook, PurchaseLimits
from facepay.customers.change_relay import RedisChangeRelay, channel_for
from facepay.customers.events import ChangeBus
from facepay.customers.services import CustomerServices, build_customer_services
from facepay.db.base import utcnow
from facepay.db.engine import make_engine, make_session_factory
from facepay.identification.service import IdentificationService
from facepay.keys import secrets
from facepay.keys.signing import public_key_bytes
from facepay.keys.store import ServerKeys, load_server_keys
from facepay.notifications import ConsoleOutboxProvider, NotificationProvider
from facepay.payment_services import PaymentServices, build_payment_services
from facepay.settings import Settings
from payments.processor import Processor


@dataclass(frozen=True)
class Services:
    """What the bootstrap built; the API hands each handler only the piece it uses."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keys: ServerKeys
    payments: PaymentServices
    notifier: NotificationProvider
    changes: ChangeBus
    identification: IdentificationService
    customers: CustomerServices
    checkout: Checkout
    provisioning: Provisioning
    recovery: Recovery
    clock: Clock = field(default=utcnow)

    def close(self) -> None:
        self.changes.close()
        self.payments.close()
        self.engine.dispose()


def purchase_limits(settings: Settings) -> PurchaseLimits:
    before_unlock = timedelta(seconds=settings.purchase_identify_timeout_s)
    return PurchaseLimits(
        identifying=before_unlock,
        step_up=before_unlock,
        authorizing=before_unlock,
        unlocked=timedelta(seconds=settings.purchase_unlocked_timeout_s),
        in_review=timedelta(seconds=settings.purchase_review_timeout_s),
    )


def changes_channel(settings: Settings) -> str:
    return channel_for(settings.effective_database_url.render_as_string(hide_password=True))


def bootstrap(
    settings: Settings,
    *,
    link: CabinetLink,
    notifier: NotificationProvider | None = None,
    processors: Mapping[str, Processor] | None = None,
    clock: Clock = utcnow,
    book: PurchaseBook | None = None,
) -> Services:
    """Build every service. ``processors`` replaces the configured ones (tests);
    ``book`` lets a test observe (or crash at) every purchase transition."""
    engine = make_engine(settings.effective_database_url)
    sessions = make_session_factory(engine)
    keys = load_server_keys(settings)
    payments = build_payment_services(settings, keys, processors=processors)
    notifier = notifier or ConsoleOutboxProvider()
    changes = ChangeBus()
    if settings.redis_url:
        changes.relay = RedisChangeRelay(
            settings.redis_url, changes_channel(settings), changes.deliver, changes.resync
        )
    pack = inspect_pack(settings.model_pack_dir, settings.model_licence)
    identification = IdentificationService(sessions, keys.kek, pack_id=pack.pack_id)
    changes.subscribe(
        identification.galleries.on_change, resync=identification.galleries.invalidate
    )
    customers = build_customer_services(
        settings=settings,
        sessions=sessions,
        kek=keys.kek,
        signing_key=keys.signing_key,
        session_key=keys.secrets.current(secrets.CUSTOMER_SESSION)[1],
        qr_key=keys.secrets.current(secrets.QR_TOKEN)[1],
        phone_code_key=keys.secrets.current(secrets.PHONE_CODE)[1],
        notifier=notifier,
        changes=changes,
        processors=payments.processors,
        methods=payments.methods,
        default_processor=payments.default_processor,
        face_engine=lambda: FaceEngine.load(pack),
    )
    book = book or PurchaseBook(sessions, clock, purchase_limits(settings))
    checkout = build_checkout(
        sessions=sessions,
        book=book,
        identification=identification,
        authorizations=payments.authorizations,
        payments_engine=payments.engine,
        cards=customers.cards,
        qr=customers.qr,
        kek=keys.kek,
        signing_key=keys.signing_key,
        notifier=notifier,
        link=link,
        public_url=settings.effective_public_url,
    )
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        keys=keys,
        payments=payments,
        notifier=notifier,
        changes=changes,
        identification=identification,
        customers=customers,
        checkout=checkout,
        provisioning=Provisioning(
            sessions, public_key_bytes(keys.signing_key), settings.effective_public_url
        ),
        recovery=Recovery(
            sessions,
            payments.authorizations,
            checkout.closing,
            checkout.expiry,
            checkout.step_ups,
            identification,
        ),
        clock=clock,
    )


@contextmanager
def open_services(settings: Settings) -> Iterator[Services]:
    """The services for a command: the same graph as the server's, with no cabinet link."""
    services = bootstrap(settings, link=OfflineCabinetLink())
    try:
        yield services
    finally:
        services.close()

"""The checkout saga built without a server: a real database, real payments services,
and fakes at the edges (processor, identifier, cards, QR, cabinet link, clock).

``CheckoutRig.restart()`` builds the whole graph again on the same database and the
same processor, as a server process restarted after a crash would.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from fakes import FakeClock, InMemoryCabinetLink, InMemoryProcessor
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from cabinet_runtime.protocol import (
    BasketLine,
    Identify,
    LivenessReport,
    QualityReport,
    RecognisedTotals,
    ServerMessage,
    SessionClosed,
    StepUpDigits,
    encode,
    pack_embedding,
)
from facepay.cabinets.service import LaneSpec, create_cabinet, create_site, set_planogram
from facepay.catalog.products import ProductSpec, upsert_products
from facepay.checkout.build import Checkout, build_checkout
from facepay.checkout.models import PurchaseSession
from facepay.checkout.purchases import AfterMove, PurchaseBook, PurchaseLimits
from facepay.checkout.states import PurchaseState
from facepay.customers.models import Customer
from facepay.db.engine import make_engine, make_session_factory
from facepay.db.migrate import upgrade
from facepay.identification.service import IdentificationOutcome
from facepay.keys.kek import FileKeyRing
from facepay.keys.signing import create_signing_key
from facepay.notifications import ConsoleOutboxProvider
from payments.authorizations.service import AuthorizationService
from payments.db import create_payments_engine
from payments.methods import CredentialCipher, PaymentMethodStore
from payments.processor import PaymentMethod

PRICE = 1500  # KRW, one cola
HOLD = 10_000


@dataclass
class ScriptedIdentifier:
    """Answers identification with what the test scripted, per call."""

    answers: list[IdentificationOutcome] = field(default_factory=list)
    step_up_answers: list[IdentificationOutcome] = field(default_factory=list)

    def identify(
        self, site_id: str, embedding: object, *, pack_id: str | None = None
    ) -> IdentificationOutcome:
        return self.answers.pop(0)

    def identify_with_step_up(
        self, site_id: str, embedding: object, last4: str, *, pack_id: str | None = None
    ) -> IdentificationOutcome:
        return self.step_up_answers.pop(0)


def outcome(decision: str, customer_id: str | None = None) -> IdentificationOutcome:
    return IdentificationOutcome(
        decision=decision,  # type: ignore[arg-type]
        customer_id=customer_id if decision == "approve" else None,
        score=0.7,
        reasons=(),
        display_reason="",
    )


@dataclass
class Cards:
    methods: PaymentMethodStore
    by_customer: dict[str, str] = field(default_factory=dict)

    def default_payment_method(self, customer_id: str) -> tuple[str, PaymentMethod] | None:
        pm_id = self.by_customer.get(customer_id)
        if pm_id is None:
            return None
        with Session(self.methods.engine) as session:
            return pm_id, self.methods.load(session, pm_id)[1]


class NoQr:
    def redeem(self, token: str, site_id: str) -> str:
        raise AssertionError("no QR in this test")


def unit_embedding(seed: int = 1) -> bytes:
    vector = np.random.default_rng(seed).normal(size=512)
    return pack_embedding((vector / np.linalg.norm(vector)).tolist())


class CheckoutRig:
    def __init__(
        self, database_url: str, keys_dir: os.PathLike[str], *, cola_stock: int = 8
    ) -> None:
        self.engine: Engine = make_engine(database_url)
        upgrade(self.engine)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)
        self.payments_engine = create_payments_engine(database_url)
        self.kek = FileKeyRing.create(keys_dir)  # type: ignore[arg-type]
        self.signing_key = create_signing_key(keys_dir)  # type: ignore[arg-type]
        self.processor = InMemoryProcessor()
        self.methods = PaymentMethodStore(self.payments_engine, CredentialCipher(os.urandom(32)))
        self.cards = Cards(self.methods)
        self.identifier = ScriptedIdentifier()
        self.link = InMemoryCabinetLink()
        self.clock = FakeClock()
        self.limits = PurchaseLimits()
        self.after_move: AfterMove = lambda _purchase_id, _state: None
        with self.sessions.begin() as session:
            site = create_site(session, "Mangwon", "KRW")
            cabinet = create_cabinet(session, site.id, "cabinet 1", HOLD)
            upsert_products(session, [ProductSpec("cola", "Cola", PRICE, "KRW", 250.0, 5.0)])
            set_planogram(session, cabinet.id, [LaneSpec("s1", "s1-l1", "cola", cola_stock)])
            customer = Customer(display_name="Jisoo")
            session.add(customer)
            session.flush()
            self.site_id, self.cabinet_id, self.customer_id = site.id, cabinet.id, customer.id
        self.checkout = self.restart()

    def give_card(self) -> None:
        self.cards.by_customer[self.customer_id] = self.methods.save(
            self.customer_id, self.processor.link_method()
        )

    def restart(self) -> Checkout:
        """Everything built anew on the same database and bank: a restarted server."""
        authorizations = AuthorizationService(
            self.payments_engine, {self.processor.name: self.processor}, self.methods
        )
        book = PurchaseBook(
            self.sessions, self.clock, self.limits, lambda p, s: self.after_move(p, s)
        )
        self.checkout = build_checkout(
            sessions=self.sessions,
            book=book,
            identification=self.identifier,
            authorizations=authorizations,
            payments_engine=self.payments_engine,
            cards=self.cards,
            qr=NoQr(),
            kek=self.kek,
            signing_key=self.signing_key,
            notifier=ConsoleOutboxProvider(),
            link=self.link,
            public_url="http://127.0.0.1:8000",
        )
        return self.checkout

    # what a cabinet sends ------------------------------------------------------------------

    def send(self, message: object) -> list[ServerMessage]:
        self.checkout.inbox.receive(self.cabinet_id, encode(message))  # type: ignore[arg-type]
        return self.link.take(self.cabinet_id)

    def identify(self, session_id: str = "s-1", seed: int = 1) -> Identify:
        return Identify(
            session_id=session_id,
            embedding=unit_embedding(seed),
            quality=QualityReport(score=0.9, passed=True),
            liveness=LivenessReport(score=0.9, passed=True, method="depth"),
        )

    def digits(self, session_id: str = "s-1", digits: str = "5678") -> StepUpDigits:
        return StepUpDigits(session_id=session_id, digits=digits)

    def closed(self, session_id: str = "s-1", colas: int = 2, sku: str = "cola") -> SessionClosed:
        lines = (BasketLine(lane="s1-l1", sku=sku, qty=colas, confidence=0.99),) if colas else ()
        return SessionClosed(
            session_id=session_id,
            lines=lines,
            review=False,
            totals=RecognisedTotals(items=colas, weight_delta_g=-250.0 * colas),
        )

    # what the server knows -----------------------------------------------------------------

    def purchase(self, session_id: str = "s-1") -> PurchaseSession:
        with self.sessions() as session:
            purchase = session.scalar(
                select(PurchaseSession).where(PurchaseSession.cabinet_session_id == session_id)
            )
            assert purchase is not None
            return purchase

    def state(self, session_id: str = "s-1") -> PurchaseState:
        return PurchaseState(self.purchase(session_id).state)

    def states(self, session_id: str = "s-1") -> list[str]:
        return [to for _, to, _ in self.checkout.book.history(self.purchase(session_id).id)]

    def close(self) -> None:
        self.engine.dispose()
        self.payments_engine.dispose()


def kinds(messages: list[ServerMessage]) -> list[str]:
    return [type(m).__name__ for m in messages]


Crash = Callable[[str, PurchaseState], None]

"""The checkout's parts, wired together: called by the bootstrap, and by the saga's tests
with fakes at the edges."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from facepay.cabinets.delivery import CabinetLink
from facepay.cabinets.inbox import CabinetInbox
from facepay.checkout.charging import DefaultCards, PurchasePayments
from facepay.checkout.closing import PurchaseClosing
from facepay.checkout.expiry import PurchaseExpiry
from facepay.checkout.identify import Identifier, PurchaseOpening, QrRedeemer
from facepay.checkout.purchases import PurchaseBook
from facepay.checkout.step_ups import StepUpChallenges
from facepay.keys.kek import KeyEncryptionKey
from facepay.notifications import NotificationProvider
from payments.authorizations.service import AuthorizationService


@dataclass(frozen=True)
class Checkout:
    book: PurchaseBook
    payments: PurchasePayments
    opening: PurchaseOpening
    closing: PurchaseClosing
    expiry: PurchaseExpiry
    step_ups: StepUpChallenges
    inbox: CabinetInbox


def build_checkout(
    *,
    sessions: sessionmaker[Session],
    book: PurchaseBook,
    identification: Identifier,
    authorizations: AuthorizationService,
    payments_engine: Engine,
    cards: DefaultCards,
    qr: QrRedeemer,
    kek: KeyEncryptionKey,
    signing_key: Ed25519PrivateKey,
    notifier: NotificationProvider,
    link: CabinetLink,
    public_url: str,
) -> Checkout:
    payments = PurchasePayments(authorizations, payments_engine, cards)
    step_ups = StepUpChallenges(kek, book.clock)
    opening = PurchaseOpening(sessions, book, identification, payments, step_ups, qr, signing_key)
    closing = PurchaseClosing(sessions, book, payments, notifier, link, public_url)
    expiry = PurchaseExpiry(sessions, book, payments, notifier, link)
    inbox = CabinetInbox(sessions, opening, closing, link)
    return Checkout(book, payments, opening, closing, expiry, step_ups, inbox)

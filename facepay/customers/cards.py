"""Linking a card through a processor's own hosted page; the platform keeps a token only.

``CustomerCards.begin_link`` asks the processor for a link session and
returns the URL of the processor's page (for the sandbox network, its hosted
card form); the customer types the card there, never here. The processor sends
the customer back to ``return_url`` (with our ``link_id`` added) and
``complete_link`` fetches the token reference, brand, last four and expiry and
stores them with ``payments.methods`` (which encrypts the token's credential).
The customer's first card becomes the default.

The processor is the one the request names, else the default processor of the
first site the customer joined, else the server's default processor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from facepay.compliance import audit
from facepay.customers.errors import CardLinkError
from facepay.customers.lookup import load_customer
from facepay.customers.models import CardLinkSession, CohortMembership, Customer, Site
from facepay.db.base import new_id
from facepay.errors import NotFoundError, ValidationError
from payments.errors import PaymentsError
from payments.methods import PaymentMethodStore, StoredPaymentMethod
from payments.processor import PaymentMethod, Processor


@dataclass(frozen=True)
class CardLinkStart:
    link_id: str
    redirect_url: str  # "" when the card is entered in the processor's own element instead
    processor: str
    # Stripe: the SetupIntent's client secret for Stripe.js on the customer's phone.
    client_secret: str | None = None


class PaymentMethodView(msgspec.Struct, frozen=True):
    """A linked card as the customer sees it; also the API payload."""

    id: str
    processor: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _views(session: Session, customer: Customer) -> dict[str, PaymentMethodView]:
    rows = session.scalars(
        select(StoredPaymentMethod)
        .where(
            StoredPaymentMethod.customer_ref == customer.id,
            StoredPaymentMethod.status == "active",
        )
        .order_by(StoredPaymentMethod.created_at, StoredPaymentMethod.id)
    )
    return {
        r.id: PaymentMethodView(
            r.id,
            r.processor,
            r.brand,
            r.last4,
            r.exp_month,
            r.exp_year,
            r.id == customer.default_payment_method_id,
        )
        for r in rows
    }


def _first_site_processor(session: Session, customer_id: str) -> str | None:
    """The default processor of the first site the customer joined, if that site names one."""
    return session.scalar(
        select(Site.default_processor)
        .join(CohortMembership, CohortMembership.site_id == Site.id)
        .where(CohortMembership.customer_id == customer_id)
        .order_by(CohortMembership.created_at, CohortMembership.id)
        .limit(1)
    )


@dataclass(frozen=True)
class CustomerCards:
    """Linking cards through processors' hosted pages, and choosing the default card."""

    sessions: sessionmaker[Session]
    processors: Mapping[str, Processor]
    methods: PaymentMethodStore
    default_processor: str

    def processor(self, name: str) -> Processor:
        processor = self.processors.get(name)
        if processor is None:
            known = ", ".join(sorted(self.processors)) or "none"
            raise ValidationError(f"unknown processor {name!r}; available: {known}")
        return processor

    def begin_link(
        self,
        customer_id: str,
        *,
        return_url: str,
        idempotency_key: str,
        processor: str | None = None,
    ) -> CardLinkStart:
        """Start a card link; the same idempotency key returns the same link."""
        if not idempotency_key or len(idempotency_key) > 200:
            raise ValidationError("an idempotency key of 1-200 characters is required")
        if not return_url.startswith(("http://", "https://")):
            raise ValidationError("return_url must be an http(s) URL")
        with self.sessions() as session:
            load_customer(session, customer_id)
            existing = session.scalar(
                select(CardLinkSession).where(
                    CardLinkSession.customer_id == customer_id,
                    CardLinkSession.idempotency_key == idempotency_key,
                )
            )
            if existing is not None and existing.redirect_url:
                return CardLinkStart(existing.id, existing.redirect_url, existing.processor)
            name = (
                existing.processor
                if existing is not None
                else processor or _first_site_processor(session, customer_id)
            )
        chosen = self.processor(name or self.default_processor)
        link_id = existing.id if existing is not None else new_id()
        try:
            # A link without a hosted page (Stripe's element) is asked for again under the
            # same key: the processor replays it, client secret included, which is not stored.
            started = chosen.begin_link(
                customer_ref=customer_id,
                return_url=_with_query(return_url, link_id=link_id),
                idempotency_key=f"link-begin:{customer_id}:{idempotency_key}",
            )
        except PaymentsError as exc:
            raise CardLinkError(f"{chosen.name}: could not start the card link: {exc}") from exc
        if existing is not None:
            return CardLinkStart(existing.id, "", existing.processor, started.client_secret)
        if not started.redirect_url and not started.client_secret:
            raise CardLinkError(f"{chosen.name} returned neither a hosted page nor a client secret")
        with self.sessions.begin() as session:
            session.add(
                CardLinkSession(
                    id=link_id,
                    customer_id=customer_id,
                    processor=chosen.name,
                    setup_ref=started.setup_ref,
                    redirect_url=started.redirect_url,
                    idempotency_key=idempotency_key,
                )
            )
        return CardLinkStart(
            link_id, started.redirect_url or "", chosen.name, started.client_secret
        )

    def complete_link(self, customer_id: str, link_id: str) -> PaymentMethodView:
        """Fetch the token of a finished link from the processor that started it and keep it
        (idempotent per link)."""
        with self.sessions() as session:
            link = session.get(CardLinkSession, link_id)
            if link is None or link.customer_id != customer_id:
                raise NotFoundError("no such card link for this customer")
            setup_ref, processor = link.setup_ref, self.processor(link.processor)
        try:
            method = processor.complete_link(
                setup_ref=setup_ref, idempotency_key=f"link-complete:{link_id}"
            )
            method_id = self.methods.save(customer_id, method)
        except PaymentsError as exc:
            raise CardLinkError(f"{processor.name}: the card link is not complete: {exc}") from exc
        with self.sessions.begin() as session:
            customer = load_customer(session, customer_id, for_update=True)
            if customer.default_payment_method_id is None:
                customer.default_payment_method_id = method_id
            link = session.get(CardLinkSession, link_id)
            assert link is not None
            if link.state != "completed":
                link.state = "completed"
                link.payment_method_id = method_id
                audit.append(
                    session,
                    actor=f"customer:{customer_id}",
                    action="payment_method.linked",
                    subject=customer_id,
                    details={"payment_method_id": method_id, "processor": method.processor},
                )
            return _views(session, customer)[method_id]

    def list_cards(self, customer_id: str) -> list[PaymentMethodView]:
        with self.sessions() as session:
            return list(_views(session, load_customer(session, customer_id)).values())

    def set_default(self, customer_id: str, method_id: str) -> None:
        with self.sessions.begin() as session:
            customer = load_customer(session, customer_id, for_update=True)
            if method_id not in _views(session, customer):
                raise NotFoundError("no such payment method for this customer")
            customer.default_payment_method_id = method_id

    def default_payment_method_id(self, customer_id: str) -> str | None:
        """The payments.methods id of the customer's default card, or None without one."""
        with self.sessions() as session:
            customer = load_customer(session, customer_id)
            chosen = customer.default_payment_method_id
            return chosen if chosen in _views(session, customer) else None

    def default_payment_method(self, customer_id: str) -> tuple[str, PaymentMethod] | None:
        """The customer's default card as processors take it (credential decrypted) with its
        payments.methods id, or None without one."""
        with self.sessions() as session:
            customer = load_customer(session, customer_id)
            if customer.default_payment_method_id is None:
                return None
            try:
                owner, method = self.methods.load(session, customer.default_payment_method_id)
            except PaymentsError:
                return None  # removed since it was chosen
        if owner != customer_id:
            raise CardLinkError("the default payment method belongs to another customer")
        return customer.default_payment_method_id, method

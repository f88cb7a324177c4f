"""Customer accounts: sign-up with a phone, cohorts, profile, deletion.

Every method opens its own transaction and publishes a change event only after
the commit, so galleries never see uncommitted data.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from facepay.compliance import audit
from facepay.compliance.audit import canonical_json
from facepay.compliance.consent import BIOMETRIC, consent_state
from facepay.customers.biometric_erasure import destroy_biometrics, rowcount
from facepay.customers.errors import CustomerNotFoundError, PhoneAlreadyRegisteredError
from facepay.customers.events import BiometricChange, ChangeBus, ChangeKind
from facepay.customers.lookup import load_customer
from facepay.customers.models import (
    CardLinkSession,
    CohortMembership,
    Customer,
    FaceTemplate,
    PhoneLink,
    PhoneVerification,
    QrToken,
    Site,
)
from facepay.customers.phone_numbers import last4, normalise_phone
from facepay.customers.phone_verification import PhoneVerifier
from facepay.db.base import utcnow
from facepay.errors import NotFoundError, ValidationError
from payments.methods import StoredPaymentMethod


@dataclass(frozen=True)
class CustomerCreated:
    customer_id: str
    verification_id: str
    phone_e164: str


class CustomerProfile(msgspec.Struct, frozen=True):
    """What the customer (and an operator) may see about the account; also the API payload."""

    id: str
    status: str
    display_name: str | None
    phone_masked: str | None
    phone_verified: bool
    biometric_consent: str | None
    face_enrolled: bool
    face_model_packs: list[str]
    sites: list[str]
    payment_methods: list[str]  # "visa ****4242 (default)"


@dataclass(frozen=True)
class DeletionCertificate:
    """What was destroyed, signed with the server's Ed25519 key (kept in the audit log)."""

    body: str  # canonical JSON
    signature: str  # base64 Ed25519 over ``body``


def _check_sites(session: Session, site_ids: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(site_ids))
    found = set(session.scalars(select(Site.id).where(Site.id.in_(unique)))) if unique else set()
    missing = [s for s in unique if s not in found]
    if missing:
        raise NotFoundError(f"no site {missing[0]!r}")
    return unique


def _join(session: Session, customer_id: str, site_ids: Sequence[str]) -> bool:
    existing = set(
        session.scalars(
            select(CohortMembership.site_id).where(CohortMembership.customer_id == customer_id)
        )
    )
    new = [s for s in site_ids if s not in existing]
    session.add_all(CohortMembership(customer_id=customer_id, site_id=s) for s in new)
    session.flush()
    return bool(new)


@dataclass(frozen=True)
class CustomerAccounts:
    """``signing_key`` signs deletion certificates; ``phones`` sends the sign-up code."""

    sessions: sessionmaker[Session]
    phones: PhoneVerifier
    changes: ChangeBus
    signing_key: Ed25519PrivateKey = field(repr=False)

    def _publish(self, customer_id: str, kind: ChangeKind) -> None:
        self.changes.publish(BiometricChange(customer_id, kind))

    def create(
        self,
        phone: str,
        *,
        display_name: str | None = None,
        site_ids: Sequence[str] = (),
        now: datetime | None = None,
    ) -> CustomerCreated:
        """A customer with an unverified phone; a code is on its way to that phone.

        Creating again with a phone that was never verified resumes the first
        attempt (a new code for the same customer) instead of failing, so a lost
        SMS or a retried request does not strand the number.
        """
        phone_e164 = normalise_phone(phone)
        if display_name is not None and not 0 < len(display_name.strip()) <= 200:
            raise ValidationError("display_name must be 1-200 characters")
        try:
            return self._create_or_resume(phone_e164, display_name, site_ids, now)
        except IntegrityError:
            # Two sign-ups for one new number at the same moment: the other one won.
            raise PhoneAlreadyRegisteredError(
                "this phone number is being registered right now; request a code instead"
            ) from None

    def _create_or_resume(
        self,
        phone_e164: str,
        display_name: str | None,
        site_ids: Sequence[str],
        now: datetime | None,
    ) -> CustomerCreated:
        with self.sessions.begin() as session:
            sites = _check_sites(session, site_ids)
            link = session.scalar(select(PhoneLink).where(PhoneLink.phone_e164 == phone_e164))
            if link is not None and link.verified_at is not None:
                raise PhoneAlreadyRegisteredError(
                    "this phone number is already registered; sign in with a code instead"
                )
            if link is None:
                customer = Customer(display_name=display_name and display_name.strip())
                session.add(customer)
                session.flush()
                link = PhoneLink(
                    customer_id=customer.id, phone_e164=phone_e164, last4=last4(phone_e164)
                )
                session.add(link)
                session.flush()
                audit.append(
                    session, actor="anonymous", action="customer.created", subject=customer.id
                )
            _join(session, link.customer_id, sites)
            verification = self.phones.send_code(session, link, now=now)
            customer_id = link.customer_id
        return CustomerCreated(customer_id, verification.id, phone_e164)

    def join_sites(self, customer_id: str, site_ids: Sequence[str]) -> None:
        """Add the customer to these sites' cohorts (idempotent)."""
        with self.sessions.begin() as session:
            load_customer(session, customer_id)
            changed = _join(session, customer_id, _check_sites(session, site_ids))
        if changed:
            self._publish(customer_id, ChangeKind.COHORTS_CHANGED)

    def leave_site(self, customer_id: str, site_id: str) -> None:
        with self.sessions.begin() as session:
            load_customer(session, customer_id)
            session.execute(
                delete(CohortMembership).where(
                    CohortMembership.customer_id == customer_id,
                    CohortMembership.site_id == site_id,
                )
            )
        self._publish(customer_id, ChangeKind.COHORTS_CHANGED)

    def delete(self, customer_id: str, *, actor: str) -> DeletionCertificate:
        """Delete the customer's personal data: templates (crypto-shredded), phone, cards,
        cohorts.

        The customer row stays as a tombstone so that receipts and ledger entries
        that name it remain consistent; it no longer holds anything personal.
        """
        with self.sessions.begin() as session:
            customer = load_customer(session, customer_id, for_update=True)
            templates, had_key = destroy_biometrics(session, customer, reason="customer_deleted")
            links = list(
                session.scalars(select(PhoneLink.id).where(PhoneLink.customer_id == customer_id))
            )
            if links:
                session.execute(
                    delete(PhoneVerification).where(PhoneVerification.phone_link_id.in_(links))
                )
            for table in (PhoneLink, CohortMembership, CardLinkSession, QrToken):
                session.execute(delete(table).where(table.customer_id == customer_id))
            cards = rowcount(
                session.execute(
                    update(StoredPaymentMethod)
                    .where(StoredPaymentMethod.customer_ref == customer_id)
                    .values(status="removed", credential=None)
                )
            )
            customer.default_payment_method_id = None
            customer.status = "deleted"
            customer.display_name = None
            customer.deleted_at = utcnow()
            body = canonical_json(
                {
                    "customer_id": customer_id,
                    "deleted_at": customer.deleted_at.isoformat(),
                    "face_templates_deleted": templates,
                    "data_key_shredded": had_key,
                    "phone_links_deleted": len(links),
                    "payment_methods_removed": cards,
                }
            )
            signature = base64.b64encode(self.signing_key.sign(body.encode())).decode()
            audit.append(
                session,
                actor=actor,
                action="customer.deleted",
                subject=customer_id,
                details={"certificate": body, "signature": signature},
            )
        self._publish(customer_id, ChangeKind.DELETED)
        return DeletionCertificate(body, signature)

    def profile(self, customer_id: str) -> CustomerProfile:
        with self.sessions() as session:
            customer = session.get(Customer, customer_id)
            if customer is None:
                raise CustomerNotFoundError(f"no customer {customer_id!r}")
            return _profile(session, customer)

    def list_customers(self, *, include_deleted: bool = False) -> list[CustomerProfile]:
        with self.sessions() as session:
            query = select(Customer).order_by(Customer.created_at, Customer.id)
            if not include_deleted:
                query = query.where(Customer.status == "active")
            return [_profile(session, c) for c in session.scalars(query)]


def _profile(session: Session, customer: Customer) -> CustomerProfile:
    link = session.scalar(select(PhoneLink).where(PhoneLink.customer_id == customer.id))
    packs = tuple(
        sorted(
            set(
                session.scalars(
                    select(FaceTemplate.model_pack_id).where(
                        FaceTemplate.customer_id == customer.id
                    )
                )
            )
        )
    )
    sites = tuple(
        sorted(
            session.scalars(
                select(CohortMembership.site_id).where(CohortMembership.customer_id == customer.id)
            )
        )
    )
    cards = session.scalars(
        select(StoredPaymentMethod)
        .where(
            StoredPaymentMethod.customer_ref == customer.id,
            StoredPaymentMethod.status == "active",
        )
        .order_by(StoredPaymentMethod.created_at)
    )
    consent = consent_state(session, customer.id, BIOMETRIC)
    return CustomerProfile(
        id=customer.id,
        status=customer.status,
        display_name=customer.display_name,
        phone_masked=f"***-****-{link.last4}" if link else None,
        phone_verified=bool(link and link.verified_at),
        biometric_consent=consent.decision.value if consent.decision else None,
        face_enrolled=bool(packs),
        face_model_packs=list(packs),
        sites=list(sites),
        payment_methods=[
            f"{c.brand} ****{c.last4}"
            + (" (default)" if c.id == customer.default_payment_method_id else "")
            for c in cards
        ],
    )

"""Sites, cabinets, provisioning and planograms: what an operator sets up (products are
the catalog's: ``facepay.catalog.products``)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cabinet_runtime.protocol import MAX_MINOR_UNITS
from facepay.cabinets.models import Cabinet, Planogram, PlanogramLane, ProvisioningCode
from facepay.catalog.models import InventoryLevel, Product
from facepay.catalog.products import check_currency
from facepay.compliance.audit import append as audit
from facepay.customers.basket_limits import default_max_basket
from facepay.customers.models import Site
from facepay.db.base import utcnow
from facepay.errors import ConflictError, NotFoundError, ValidationError

PROVISIONING_CODE_TTL = timedelta(hours=24)


def create_site(
    session: Session,
    name: str,
    currency: str,
    timezone: str = "Asia/Seoul",
    max_basket_amount: int | None = None,
    default_processor: str | None = None,
) -> Site:
    """``max_basket_amount``: the most one visit may be charged, minor units (a default
    of about 500,000 KRW in the site's currency when not given)."""
    currency = check_currency(currency)
    if max_basket_amount is None:
        max_basket_amount = default_max_basket(currency)
    if max_basket_amount <= 0 or max_basket_amount > MAX_MINOR_UNITS:
        raise ValidationError(
            f"max basket must be a positive amount in minor units up to {MAX_MINOR_UNITS}"
        )
    site = Site(
        name=name,
        currency=currency,
        timezone=timezone,
        max_basket_amount=max_basket_amount,
        default_processor=default_processor,
    )
    session.add(site)
    session.flush()
    return site


def create_cabinet(session: Session, site_id: str, name: str, hold_amount: int) -> Cabinet:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFoundError(f"site {site_id} does not exist")
    if hold_amount <= 0:
        raise ValidationError("hold_amount must be a positive amount in minor units")
    cabinet = Cabinet(site_id=site_id, name=name, hold_amount=hold_amount, currency=site.currency)
    session.add(cabinet)
    session.flush()
    audit(session, actor="operator", action="cabinet.create", subject=cabinet.id)
    return cabinet


def get_cabinet(session: Session, cabinet_id: str) -> Cabinet:
    cabinet = session.get(Cabinet, cabinet_id)
    if cabinet is None:
        raise NotFoundError(f"cabinet {cabinet_id} does not exist")
    return cabinet


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def issue_provisioning_code(session: Session, cabinet_id: str, now: datetime | None = None) -> str:
    get_cabinet(session, cabinet_id)
    code = "-".join(secrets.token_hex(3).upper() for _ in range(4))
    issued = now or utcnow()
    session.add(
        ProvisioningCode(
            code_hash=_code_hash(code),
            cabinet_id=cabinet_id,
            expires_at=issued + PROVISIONING_CODE_TTL,
            created_at=issued,
        )
    )
    session.flush()
    return code


def redeem_provisioning_code(
    session: Session, code: str, public_key: bytes, now: datetime | None = None
) -> Cabinet:
    """Register a device's Ed25519 public key for the cabinet the code was issued for."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError as exc:
        raise ValidationError("public_key is not a raw 32-byte Ed25519 key") from exc
    at = now or utcnow()
    redeemed = session.execute(
        update(ProvisioningCode)
        .where(
            ProvisioningCode.code_hash == _code_hash(code),
            ProvisioningCode.used_at.is_(None),
            ProvisioningCode.expires_at > at,
        )
        .values(used_at=at)
        .returning(ProvisioningCode.cabinet_id)
    ).scalar_one_or_none()
    if redeemed is None:
        raise ValidationError("provisioning code is unknown, already used or expired")
    cabinet = get_cabinet(session, redeemed)
    cabinet.device_public_key = public_key
    cabinet.provisioned_at = at
    cabinet.status = "provisioned"
    audit(session, actor=f"cabinet:{cabinet.id}", action="cabinet.provision", subject=cabinet.id)
    return cabinet


@dataclass(frozen=True)
class LaneSpec:
    shelf_id: str
    lane_id: str
    sku: str
    count: int
    capacity: int | None = None


def set_planogram(session: Session, cabinet_id: str, lanes: Sequence[LaneSpec]) -> Planogram:
    """A new active planogram version; stock per lane is set to the given counts."""
    cabinet = get_cabinet(session, cabinet_id)
    lane_ids = [lane.lane_id for lane in lanes]
    if len(set(lane_ids)) != len(lane_ids):
        raise ValidationError("lane ids must be unique within a cabinet")
    for lane in lanes:
        product = session.get(Product, lane.sku)
        if product is None:
            raise NotFoundError(f"lane {lane.lane_id}: product {lane.sku} does not exist")
        if product.currency != cabinet.currency:
            raise ConflictError(
                f"{lane.sku} is priced in {product.currency}, cabinet in {cabinet.currency}"
            )
        if lane.count < 0:
            raise ValidationError(f"lane {lane.lane_id}: count must not be negative")
    current = session.scalars(
        select(Planogram)
        .where(Planogram.cabinet_id == cabinet_id)
        .order_by(Planogram.version.desc())
    ).first()
    if current is not None:
        current.active = False
    planogram = Planogram(
        cabinet_id=cabinet_id, version=(current.version + 1) if current else 1, active=True
    )
    session.add(planogram)
    session.flush()
    for lane in lanes:
        session.add(
            PlanogramLane(
                planogram_id=planogram.id,
                shelf_id=lane.shelf_id,
                lane_id=lane.lane_id,
                sku=lane.sku,
                capacity=lane.capacity if lane.capacity is not None else max(lane.count, 1),
            )
        )
        level = session.get(InventoryLevel, (cabinet_id, lane.lane_id)) or InventoryLevel(
            cabinet_id=cabinet_id, lane_id=lane.lane_id
        )
        level.sku = lane.sku
        level.quantity = lane.count
        session.add(level)
    session.flush()
    return planogram

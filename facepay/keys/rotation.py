"""KEK rotation: a new version becomes active and every data key is re-wrapped.

The new version is added to the ring file first (old versions stay in it),
then all data keys are re-wrapped in one transaction. If that transaction
fails, every data key is still wrapped by a version the ring holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from facepay.customers.data_keys import rewrap_data_key
from facepay.customers.models import Customer
from facepay.keys.kek import FileKeyRing


@dataclass(frozen=True)
class RotationReport:
    previous_version: int
    active_version: int
    rewrapped: int


def rotate_kek(keys_dir: Path, sessions: sessionmaker[Session]) -> RotationReport:
    ring = FileKeyRing.load(keys_dir)
    rotated = ring.with_new_version()
    rotated.save()
    with sessions.begin() as session:
        customers = session.scalars(
            select(Customer).where(Customer.wrapped_data_key.is_not(None))
        ).all()
        for customer in customers:
            rewrap_data_key(rotated, customer)
    return RotationReport(ring.active_version, rotated.active_version, len(customers))

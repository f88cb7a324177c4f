"""Per-site galleries: the matcher cohort of each site, built from encrypted templates.

A site's cohort is built on first use: every member's template is opened with
that customer's data key (unwrapped by the KEK) and the decrypted vectors are
held in memory only. Change events keep built cohorts current. Templates of
another model pack are never loaded; their customers are listed as needing
re-enrollment.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from biometrics.errors import BiometricsError
from biometrics.matcher import Matcher
from biometrics.templates import open_template
from facepay.customers.data_keys import open_data_key
from facepay.customers.models import CohortMembership, Customer, FaceTemplate
from facepay.errors import FacePayError
from facepay.identification.events import BiometricChange
from facepay.platform import Platform

log = logging.getLogger("facepay.identification")


@dataclass(frozen=True)
class _Loaded:
    vector: npt.NDArray[np.float32] | None
    stale_pack: bool  # enrolled under another model pack


class SiteGalleries:
    def __init__(self, platform: Platform, matcher: Matcher) -> None:
        self.platform = platform
        self.matcher = matcher
        self.pack_id = matcher.pack_id
        self._built: set[str] = set()
        self._stale: dict[str, set[str]] = {}
        self._registry_lock = threading.Lock()
        self._site_locks: dict[str, threading.Lock] = {}

    def _lock(self, site_id: str) -> threading.Lock:
        with self._registry_lock:
            return self._site_locks.setdefault(site_id, threading.Lock())

    def built_sites(self) -> list[str]:
        with self._registry_lock:
            return sorted(self._built)

    def is_built(self, site_id: str) -> bool:
        with self._registry_lock:
            return site_id in self._built

    def ensure(self, site_id: str) -> None:
        """Build the site's cohort if this process has not yet."""
        if self.is_built(site_id):
            return
        with self._lock(site_id):
            with self._registry_lock:
                if site_id in self._built:
                    return
            self._build(site_id)
            with self._registry_lock:
                self._built.add(site_id)

    def _build(self, site_id: str) -> None:
        self.matcher.drop_cohort(site_id)
        self.matcher.create_cohort(site_id)
        stale: set[str] = set()
        ids: list[str] = []
        rows: list[npt.NDArray[np.float32]] = []
        with self.platform.sessions() as session:
            for customer_id, loaded in self._load(session, site_id=site_id).items():
                if loaded.stale_pack:
                    stale.add(customer_id)
                if loaded.vector is not None:
                    ids.append(customer_id)
                    rows.append(loaded.vector)
        if ids:
            self.matcher.add_many(site_id, ids, np.vstack(rows), pack_id=self.pack_id)
        self._stale[site_id] = stale
        log.info("gallery for site %s built: %d templates, %d stale", site_id, len(ids), len(stale))

    def _load(
        self, session: Session, *, site_id: str | None = None, customer_id: str | None = None
    ) -> dict[str, _Loaded]:
        """The usable template of every active member of a site (or of one customer),
        read in one query, since a site may have many thousands of members."""
        query = (
            select(Customer, FaceTemplate)
            .join(FaceTemplate, FaceTemplate.customer_id == Customer.id)
            .where(Customer.status == "active", Customer.wrapped_data_key.is_not(None))
        )
        if site_id is not None:
            query = query.join(CohortMembership, CohortMembership.customer_id == Customer.id).where(
                CohortMembership.site_id == site_id
            )
        if customer_id is not None:
            query = query.where(Customer.id == customer_id)
        newest: dict[str, tuple[Customer, FaceTemplate | None]] = {}
        for customer, template in session.execute(query):
            _, best = newest.get(customer.id, (customer, None))
            if template.model_pack_id != self.pack_id:
                newest.setdefault(customer.id, (customer, None))
            elif best is None or template.created_at > best.created_at:
                newest[customer.id] = (customer, template)
        return {cid: self._open(c, t) for cid, (c, t) in newest.items()}

    def _open(self, customer: Customer, template: FaceTemplate | None) -> _Loaded:
        if template is None:
            return _Loaded(None, True)  # templates exist, but only of another pack
        try:
            data_key = open_data_key(self.platform.keys.kek, customer)
            vector = open_template(
                template.sealed, data_key, customer.id, self.pack_id, template.key_version
            )
        except (BiometricsError, FacePayError) as exc:
            # One unreadable template must not take the whole site's gallery down.
            log.error("template of customer %s cannot be opened: %s", customer.id, exc)
            return _Loaded(None, False)
        return _Loaded(vector, False)

    def invalidate(self) -> None:
        """Forget every built cohort; each is rebuilt from the database on its next use."""
        with self._registry_lock:
            self._built.clear()

    def needs_reenrollment(self, site_id: str) -> set[str]:
        """Members of the site whose only templates belong to another model pack."""
        self.ensure(site_id)
        return set(self._stale.get(site_id, set()))

    def on_change(self, change: BiometricChange) -> None:
        """Bring every built cohort up to date with one customer's committed state.

        A cohort being built right now is waited for (its lock), then updated: its
        build may have read the database just before this change committed.
        """
        with self._registry_lock:
            sites = list(self._site_locks)
        for site_id in sites:
            with self._lock(site_id):
                if not self.is_built(site_id):
                    continue
                try:
                    self._refresh(site_id, change.customer_id)
                except Exception:
                    # Fall back to a full rebuild on next use rather than serve a stale gallery.
                    log.exception("gallery update for site %s failed; will rebuild", site_id)
                    with self._registry_lock:
                        self._built.discard(site_id)

    def _refresh(self, site_id: str, customer_id: str) -> None:
        with self.platform.sessions() as session:
            member = session.scalar(
                select(CohortMembership.id).where(
                    CohortMembership.site_id == site_id,
                    CohortMembership.customer_id == customer_id,
                )
            )
            found = self._load(session, customer_id=customer_id) if member else {}
        loaded = found.get(customer_id, _Loaded(None, False))
        stale = self._stale.setdefault(site_id, set())
        stale.discard(customer_id)
        if loaded.stale_pack:
            stale.add(customer_id)
        if loaded.vector is None:
            self.matcher.remove(site_id, customer_id)
        else:
            self.matcher.add(site_id, customer_id, loaded.vector, pack_id=self.pack_id)

"""Identification for the checkout: who is this face at this site, and how sure are we?

``identify`` searches the site's cohort and applies the biometrics decision
policy (calibrated FMR at the threshold times the gallery size, and the
top-1/top-2 margin). When the policy asks for a step-up, the cabinet asks for
the last four digits of the customer's phone and calls
``identify_with_step_up``, which decides again over only the cohort members
whose verified phone ends in those digits, with no further step-up.

The bootstrap builds one service per server and subscribes its galleries to the
customers' change events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from biometrics.calibration import CalibrationTable, default_table
from biometrics.matcher import InvalidVectorError, Matcher, as_unit_vectors
from biometrics.policy import Decision, Outcome, PolicyConfig, decide
from facepay.customers.models import CohortMembership, PhoneLink, Site
from facepay.errors import NotFoundError, ValidationError
from facepay.identification.gallery import SiteGalleries
from facepay.keys.kek import KeyEncryptionKey

DecisionName = Literal["approve", "step_up", "deny"]

_NAMES: Mapping[Outcome, DecisionName] = MappingProxyType(
    {Outcome.APPROVE: "approve", Outcome.STEP_UP: "step_up", Outcome.DENY: "deny"}
)
_DISPLAY: Mapping[str, str] = MappingProxyType(
    {
        "approve": "Welcome! The door is unlocking.",
        "step_up": "Please enter the last 4 digits of your phone number.",
        "deny": "Sorry, we could not recognise you. Try again or use the QR code in the app.",
    }
)


@dataclass(frozen=True)
class IdentificationOutcome:
    decision: DecisionName
    customer_id: str | None  # set on approve only
    score: float | None
    reasons: tuple[str, ...]  # machine-readable, in the order they were found
    display_reason: str  # short, for the cabinet's screen
    gallery_size: int = 0
    margin: float | None = None
    threshold: float | None = None
    expected_false_matches: float | None = None
    step_up_used: bool = False


def _outcome(
    decision: Decision, *, step_up_used: bool, extra: tuple[str, ...] = ()
) -> IdentificationOutcome:
    name = _NAMES[decision.outcome]
    return IdentificationOutcome(
        decision=name,
        customer_id=decision.subject_id if decision.outcome is Outcome.APPROVE else None,
        score=decision.score,
        reasons=tuple(r.value for r in decision.reasons),
        display_reason=_DISPLAY[name],
        gallery_size=decision.gallery_size,
        margin=decision.margin,
        threshold=decision.threshold,
        expected_false_matches=decision.expected_false_matches,
        step_up_used=step_up_used,
    )


def _deny(reason: str, *, step_up_used: bool = False) -> IdentificationOutcome:
    return IdentificationOutcome(
        decision="deny",
        customer_id=None,
        score=None,
        reasons=(reason,),
        display_reason=_DISPLAY["deny"],
        step_up_used=step_up_used,
    )


class IdentificationService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        kek: KeyEncryptionKey,
        *,
        pack_id: str,
        table: CalibrationTable | None = None,
        policy: PolicyConfig | None = None,
        matcher: Matcher | None = None,
    ) -> None:
        self.sessions = sessions
        self.pack_id = pack_id
        self.table = table or default_table(pack_id)
        self.policy = policy or PolicyConfig()
        self.galleries = SiteGalleries(sessions, kek, matcher or Matcher(pack_id))

    def _probe(self, embedding: npt.ArrayLike) -> npt.NDArray[np.float32]:
        try:
            unit = as_unit_vectors(embedding, self.galleries.matcher.dim)
        except InvalidVectorError as exc:
            raise ValidationError(f"embedding: {exc}") from exc
        if unit.shape[0] != 1:
            raise ValidationError(f"embedding: expected one vector, got {unit.shape[0]}")
        return np.asarray(unit[0], dtype=np.float32)

    def _site(self, site_id: str) -> None:
        if self.galleries.is_built(site_id):  # the hot path: no database round trip
            return
        with self.sessions() as session:
            if session.get(Site, site_id) is None:
                raise NotFoundError(f"no site {site_id!r}")
        self.galleries.ensure(site_id)

    def identify(
        self, site_id: str, embedding: npt.ArrayLike, *, pack_id: str | None = None
    ) -> IdentificationOutcome:
        """1:N in the site's cohort. ``pack_id``: the pack the cabinet computed the
        embedding with; another pack than the server's is denied, never compared."""
        probe = self._probe(embedding)
        if pack_id is not None and pack_id != self.pack_id:
            return _deny("model_pack_mismatch")
        self._site(site_id)
        matcher = self.galleries.matcher
        candidates = matcher.search(site_id, probe, k=2, pack_id=self.pack_id)
        decision = decide(candidates, matcher.size(site_id), self.table, self.policy)
        return _outcome(decision, step_up_used=False)

    def identify_with_step_up(
        self,
        site_id: str,
        embedding: npt.ArrayLike,
        last4: str,
        *,
        pack_id: str | None = None,
    ) -> IdentificationOutcome:
        """Decide again over the members whose verified phone ends in ``last4``."""
        if not (isinstance(last4, str) and len(last4) == 4 and last4.isdigit()):
            raise ValidationError("last4 must be exactly four digits")
        probe = self._probe(embedding)
        if pack_id is not None and pack_id != self.pack_id:
            return _deny("model_pack_mismatch", step_up_used=True)
        self._site(site_id)
        narrowed = self._members_with_last4(site_id, last4)
        matcher = self.galleries.matcher
        candidates = matcher.verify_many(site_id, narrowed, probe, pack_id=self.pack_id)
        if not candidates:
            return _deny("step_up_no_match", step_up_used=True)
        decision = decide(
            candidates, len(candidates), self.table, self.policy, step_up_available=False
        )
        return _outcome(decision, step_up_used=True)

    def _members_with_last4(self, site_id: str, last4: str) -> list[str]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(PhoneLink.customer_id)
                    .join(CohortMembership, CohortMembership.customer_id == PhoneLink.customer_id)
                    .where(
                        CohortMembership.site_id == site_id,
                        PhoneLink.last4 == last4,
                        PhoneLink.verified_at.is_not(None),
                    )
                )
            )

    def warm(self) -> list[str]:
        """Build every site's gallery now (e.g. at server start-up), so that the first
        customer at a large site does not wait for it. Returns the site ids."""
        with self.sessions() as session:
            site_ids = list(session.scalars(select(Site.id).order_by(Site.id)))
        for site_id in site_ids:
            self.galleries.ensure(site_id)
        return site_ids

    def needs_reenrollment(self, site_id: str) -> set[str]:
        self._site(site_id)
        return self.galleries.needs_reenrollment(site_id)

    async def aidentify(
        self, site_id: str, embedding: npt.ArrayLike, *, pack_id: str | None = None
    ) -> IdentificationOutcome:
        # A first use builds the gallery (database + decryption): keep it off the loop.
        return await asyncio.to_thread(self.identify, site_id, embedding, pack_id=pack_id)

    async def aidentify_with_step_up(
        self, site_id: str, embedding: npt.ArrayLike, last4: str, *, pack_id: str | None = None
    ) -> IdentificationOutcome:
        return await asyncio.to_thread(
            self.identify_with_step_up, site_id, embedding, last4, pack_id=pack_id
        )

"""Faces waiting for the customer's four digits, stored so that any API node can answer.

The cabinet that asked for a step-up may send the digits over a connection to another
node, so the embedding cannot stay in one process's memory. It is sealed with the KEK
(AES-GCM, bound to the purchase id as associated data), kept for a minute at most, and
deleted as soon as it is taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete
from sqlalchemy.orm import Session

from facepay.checkout.models import StepUpChallenge
from facepay.checkout.purchases import Clock
from facepay.keys.kek import KeyEncryptionKey

STEP_UP_TTL = timedelta(minutes=1)


def _context(purchase_id: str) -> str:
    return f"step-up/{purchase_id}"


@dataclass(frozen=True)
class StepUpChallenges:
    kek: KeyEncryptionKey
    clock: Clock
    ttl: timedelta = STEP_UP_TTL

    def put(
        self,
        session: Session,
        purchase_id: str,
        embedding: npt.NDArray[np.float32],
        pack_id: str | None,
    ) -> None:
        raw = np.asarray(embedding, dtype="<f4").tobytes()
        version, sealed = self.kek.wrap(raw, _context(purchase_id))
        session.merge(
            StepUpChallenge(
                purchase_id=purchase_id,
                sealed_embedding=sealed,
                key_version=version,
                pack_id=pack_id,
                expires_at=self.clock() + self.ttl,
            )
        )
        session.flush()

    def take(
        self, session: Session, purchase_id: str
    ) -> tuple[npt.NDArray[np.float32], str | None] | None:
        """The waiting embedding and its pack, once: the row is gone afterwards."""
        challenge = session.get(StepUpChallenge, purchase_id, with_for_update=True)
        if challenge is None:
            return None
        session.delete(challenge)
        session.flush()
        if challenge.expires_at <= self.clock():
            return None
        raw = self.kek.unwrap(
            challenge.sealed_embedding, challenge.key_version, _context(purchase_id)
        )
        return np.frombuffer(raw, dtype="<f4").astype(np.float32), challenge.pack_id

    def purge_expired(self, session: Session) -> int:
        result = session.execute(
            delete(StepUpChallenge).where(StepUpChallenge.expires_at <= self.clock())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

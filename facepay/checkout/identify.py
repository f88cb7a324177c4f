"""Identify → (step-up) → hold → signed unlock: how a purchase opens.

The purchase is written first, so a resent identify finds it and gets the same answer.
Matching and the hold run outside the server's transactions (payments keeps its own).
A face waiting for step-up digits is stored sealed (``StepUpChallenges``), so the digits
may arrive through any API node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session, sessionmaker

from cabinet_runtime.protocol import (
    Identify,
    IdentifyResult,
    ServerMessage,
    StepUpDigits,
    unpack_embedding,
)
from facepay.cabinets import commands
from facepay.cabinets.models import Cabinet
from facepay.checkout.charging import PurchasePayments
from facepay.checkout.models import PurchaseSession
from facepay.checkout.purchases import PurchaseBook
from facepay.checkout.states import PurchaseState
from facepay.checkout.step_ups import StepUpChallenges
from facepay.errors import FacePayError, NotFoundError
from facepay.identification.service import IdentificationOutcome
from payments.money import Money

STEP_UP_PROMPT = "Enter the last 4 digits of your phone number."
NOT_RECOGNISED = "Face not recognised. Use the QR code in the FacePay app."
MODEL_MISMATCH = "This cabinet cannot check faces right now. Use the QR code in the FacePay app."
LIVENESS_FAILED = "Please face the camera directly and try again."
TOO_SLOW = "Took too long. Please start again."
UNKNOWN_SESSION = "Unknown session."
EXPIRED = "This visit has expired. Please start again."
WELCOME = "Welcome! Take what you like and close the door."

_BEFORE_HOLD = frozenset({PurchaseState.IDENTIFYING, PurchaseState.STEP_UP})


class Identifier(Protocol):
    """Who this face is at this site (``IdentificationService`` answers)."""

    def identify(
        self, site_id: str, embedding: npt.ArrayLike, *, pack_id: str | None = None
    ) -> IdentificationOutcome: ...

    def identify_with_step_up(
        self, site_id: str, embedding: npt.ArrayLike, last4: str, *, pack_id: str | None = None
    ) -> IdentificationOutcome: ...


class QrRedeemer(Protocol):
    """Turns the token shown on a customer's phone into the customer (customers' QR)."""

    def redeem(self, token: str, site_id: str) -> str: ...


@dataclass(frozen=True)
class Visit:
    """What every step after the first transaction needs to know."""

    purchase_id: str
    cabinet_session_id: str
    cabinet_id: str
    site_id: str
    hold: Money


def _result(session_id: str, decision: str, reason: str = "") -> IdentifyResult:
    return IdentifyResult(session_id=session_id, decision=decision, reason=reason)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PurchaseOpening:
    sessions: sessionmaker[Session]
    book: PurchaseBook
    identification: Identifier
    payments: PurchasePayments
    step_ups: StepUpChallenges
    qr: QrRedeemer
    signing_key: Ed25519PrivateKey

    # -- entry points (one per cabinet message) -------------------------------------------

    def identify(self, cabinet_id: str, message: Identify) -> list[ServerMessage]:
        cabinet = self._cabinet(cabinet_id)
        purchase, opened = self.book.open(
            cabinet_id,
            message.session_id,
            auth_method="qr" if message.qr_token else "face",
            currency=cabinet.currency,
        )
        visit = _visit(purchase, cabinet)
        if not opened and purchase.state != PurchaseState.IDENTIFYING:
            return self._replay(purchase, visit)
        # New, or opened by an identify whose handling died before deciding (a crash): the
        # resent message carries the face or token again, so decide now.
        if message.qr_token is not None:
            try:
                customer_id = self.qr.redeem(message.qr_token, visit.site_id)
            except FacePayError as exc:
                return self._deny(visit, str(exc))
            return self._approve(visit, customer_id)
        assert message.embedding is not None and message.liveness is not None  # the protocol
        if not message.liveness.passed or (
            message.quality is not None and not message.quality.passed
        ):
            return self._deny(visit, LIVENESS_FAILED)
        embedding = np.asarray(unpack_embedding(message.embedding), dtype=np.float32)
        outcome = self.identification.identify(visit.site_id, embedding, pack_id=message.pack_id)
        return self._apply(visit, outcome, embedding, message.pack_id)

    def step_up(self, cabinet_id: str, message: StepUpDigits) -> list[ServerMessage]:
        cabinet = self._cabinet(cabinet_id)
        with self.sessions.begin() as session:
            purchase = self.book.find(session, cabinet_id, message.session_id)
            if purchase is None:
                return [_result(message.session_id, "deny", UNKNOWN_SESSION)]
            visit = _visit(purchase, cabinet)
            waiting = None
            if purchase.state == PurchaseState.STEP_UP:
                waiting = self.step_ups.take(session, purchase.id)
            session.expunge(purchase)
        if purchase.state != PurchaseState.STEP_UP:
            return self._replay(purchase, visit)
        if waiting is None:
            return self._deny(visit, TOO_SLOW)
        embedding, pack_id = waiting
        outcome = self.identification.identify_with_step_up(
            visit.site_id, embedding, message.digits, pack_id=pack_id
        )
        if outcome.decision == "step_up":  # a second step-up would loop: deny instead
            return self._deny(visit, NOT_RECOGNISED)
        return self._apply(visit, outcome, None, pack_id)

    # -- steps ----------------------------------------------------------------------------

    def _cabinet(self, cabinet_id: str) -> Cabinet:
        with self.sessions() as session:
            cabinet = session.get(Cabinet, cabinet_id)
            if cabinet is None:
                raise NotFoundError(f"no cabinet {cabinet_id}")
            session.expunge(cabinet)
            return cabinet

    def _deny(self, visit: Visit, reason: str) -> list[ServerMessage]:
        self.book.move(
            visit.purchase_id,
            PurchaseState.DENIED,
            reason=reason,
            expect=frozenset({*_BEFORE_HOLD, PurchaseState.AUTHORIZING}),
            denial_reason=reason,
        )
        return [_result(visit.cabinet_session_id, "deny", reason)]

    def _unlock(self, visit: Visit) -> list[ServerMessage]:
        unlock = commands.unlock(
            self.signing_key, visit.cabinet_id, visit.cabinet_session_id, WELCOME
        )
        return [_result(visit.cabinet_session_id, "approve"), unlock]

    def _approve(self, visit: Visit, customer_id: str) -> list[ServerMessage]:
        moved = self.book.move(
            visit.purchase_id,
            PurchaseState.AUTHORIZING,
            reason="customer identified",
            expect=_BEFORE_HOLD,
            customer_id=customer_id,
        )
        if moved is None:  # another node answered this session meanwhile
            return self._replay(self.book.get(visit.purchase_id), visit)
        return self._hold(visit, customer_id)

    def _hold(self, visit: Visit, customer_id: str) -> list[ServerMessage]:
        hold = self.payments.hold(visit.purchase_id, customer_id, visit.cabinet_id, visit.hold)
        if hold.refusal is not None:
            if hold.authorization_id is not None:
                self.book.move(
                    visit.purchase_id,
                    PurchaseState.DENIED,
                    reason=hold.refusal,
                    expect=frozenset({PurchaseState.AUTHORIZING}),
                    denial_reason=hold.refusal,
                    authorization_ref=hold.authorization_id,
                )
                return [_result(visit.cabinet_session_id, "deny", hold.refusal)]
            return self._deny(visit, hold.refusal)
        moved = self.book.move(
            visit.purchase_id,
            PurchaseState.UNLOCKED,
            reason="hold placed",
            expect=frozenset({PurchaseState.AUTHORIZING}),
            authorization_ref=hold.authorization_id,
            hold_amount=hold.held,
        )
        if moved is None:  # expired while the processor answered: the expiry voids it
            return self._replay(self.book.get(visit.purchase_id), visit)
        return self._unlock(visit)

    def _apply(
        self,
        visit: Visit,
        outcome: IdentificationOutcome,
        embedding: np.ndarray | None,
        pack_id: str | None,
    ) -> list[ServerMessage]:
        if outcome.decision == "approve" and outcome.customer_id is not None:
            return self._approve(visit, outcome.customer_id)
        if outcome.decision == "step_up" and embedding is not None:
            with self.sessions.begin() as session:
                self.step_ups.put(session, visit.purchase_id, embedding, pack_id)
                purchase = session.get(PurchaseSession, visit.purchase_id, with_for_update=True)
                assert purchase is not None
                self.book.move_in(session, purchase, PurchaseState.STEP_UP, reason="step-up asked")
            self.book.after_move(visit.purchase_id, PurchaseState.STEP_UP)
            return [_result(visit.cabinet_session_id, "step_up", STEP_UP_PROMPT)]
        if "model_pack_mismatch" in outcome.reasons:
            return self._deny(visit, MODEL_MISMATCH)
        return self._deny(visit, NOT_RECOGNISED)

    def _replay(self, purchase: PurchaseSession, visit: Visit) -> list[ServerMessage]:
        """A resent message (the cabinet did not see our answer): answer the same way."""
        state = PurchaseState(purchase.state)
        session_id = visit.cabinet_session_id
        if state is PurchaseState.DENIED:
            return [_result(session_id, "deny", purchase.denial_reason or "")]
        if state is PurchaseState.STEP_UP:
            return [_result(session_id, "step_up", STEP_UP_PROMPT)]
        if state is PurchaseState.AUTHORIZING and purchase.customer_id is not None:
            return self._hold(visit, purchase.customer_id)  # the hold is idempotent
        if state is PurchaseState.UNLOCKED:
            # The unlock may have been lost with the connection; a fresh one for the
            # same session is harmless: the cabinet opens a session only once.
            return self._unlock(visit)
        if state is PurchaseState.EXPIRED:
            return [_result(session_id, "deny", EXPIRED)]
        if state is PurchaseState.IDENTIFYING:
            # Digits for a session that never asked for them.
            return [_result(session_id, "deny", UNKNOWN_SESSION)]
        return [_result(session_id, "approve")]


def _visit(purchase: PurchaseSession, cabinet: Cabinet) -> Visit:
    return Visit(
        purchase.id,
        purchase.cabinet_session_id,
        cabinet.id,
        cabinet.site_id,
        Money(cabinet.hold_amount, cabinet.currency),
    )

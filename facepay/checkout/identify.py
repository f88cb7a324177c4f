"""Identify → (step-up) → hold → signed unlock.

The purchase session is written first, so a resent identify finds it and gets
the same answer. Matching and the hold run outside the server's transaction
(payments keeps its own). The embedding of a session waiting for step-up
digits stays in memory only, for a minute; it is never written anywhere.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cabinet_runtime.protocol import (
    Identify,
    IdentifyResult,
    ServerMessage,
    StepUpDigits,
    unpack_embedding,
)
from facepay.cabinets import commands
from facepay.cabinets.models import Cabinet
from facepay.checkout.charging import place_hold
from facepay.checkout.models import PurchaseSession
from facepay.errors import FacePayError
from facepay.identification.service import IdentificationOutcome, identification_service
from facepay.platform import Platform
from facepay.qr import redeem_qr_token
from payments.money import Money

STEP_UP_TTL_S = 60.0
STEP_UP_PROMPT = "Enter the last 4 digits of your phone number."
NOT_RECOGNISED = "Face not recognised. Use the QR code in the FacePay app."
MODEL_MISMATCH = "This cabinet cannot check faces right now. Use the QR code in the FacePay app."
LIVENESS_FAILED = "Please face the camera directly and try again."
WELCOME = "Welcome! Take what you like and close the door."


@dataclass
class PendingStepUps:
    """Embeddings waiting for the customer's four digits, by purchase session id."""

    _items: dict[str, tuple[float, np.ndarray]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, session_id: str, embedding: np.ndarray) -> None:
        with self._lock:
            now = time.monotonic()
            self._items = {k: v for k, v in self._items.items() if v[0] > now}
            self._items[session_id] = (now + STEP_UP_TTL_S, embedding)

    def take(self, session_id: str) -> np.ndarray | None:
        with self._lock:
            expires, embedding = self._items.pop(session_id, (0.0, None))
        return embedding if expires > time.monotonic() else None


_pending = PendingStepUps()


@dataclass(frozen=True)
class Visit:
    """What the steps after the first transaction need to know."""

    purchase_id: str
    cabinet_session_id: str
    cabinet_id: str
    site_id: str
    hold: Money


def _result(visit: Visit | str, decision: str, reason: str = "") -> IdentifyResult:
    session_id = visit if isinstance(visit, str) else visit.cabinet_session_id
    return IdentifyResult(session_id=session_id, decision=decision, reason=reason)  # type: ignore[arg-type]


def _find(session: Session, cabinet_id: str, cabinet_session_id: str) -> PurchaseSession | None:
    return session.scalar(
        select(PurchaseSession)
        .where(
            PurchaseSession.cabinet_id == cabinet_id,
            PurchaseSession.cabinet_session_id == cabinet_session_id,
        )
        .with_for_update()
    )


def _visit(purchase: PurchaseSession, cabinet: Cabinet) -> Visit:
    return Visit(
        purchase.id,
        purchase.cabinet_session_id,
        cabinet.id,
        cabinet.site_id,
        Money(cabinet.hold_amount, cabinet.currency),
    )


def _record(platform: Platform, visit: Visit, **values: object) -> None:
    with platform.sessions.begin() as session:
        purchase = session.get(PurchaseSession, visit.purchase_id, with_for_update=True)
        assert purchase is not None
        for name, value in values.items():
            setattr(purchase, name, value)


def _deny(platform: Platform, visit: Visit, reason: str) -> list[ServerMessage]:
    _record(platform, visit, state="denied", denial_reason=reason)
    return [_result(visit, "deny", reason)]


def _unlock(platform: Platform, visit: Visit) -> list[ServerMessage]:
    unlock = commands.unlock(
        platform.keys.signing_key, visit.cabinet_id, visit.cabinet_session_id, WELCOME
    )
    return [_result(visit, "approve"), unlock]


def _approve(platform: Platform, visit: Visit, customer_id: str) -> list[ServerMessage]:
    _record(platform, visit, customer_id=customer_id)
    hold = place_hold(platform, visit.purchase_id, customer_id, visit.cabinet_id, visit.hold)
    if hold.refusal is not None:
        _record(platform, visit, authorization_ref=hold.authorization_id)
        return _deny(platform, visit, hold.refusal)
    _record(
        platform,
        visit,
        state="unlocked",
        authorization_ref=hold.authorization_id,
        hold_amount=hold.held,
    )
    return _unlock(platform, visit)


def _apply(
    platform: Platform, visit: Visit, outcome: IdentificationOutcome, embedding: np.ndarray | None
) -> list[ServerMessage]:
    if outcome.decision == "approve" and outcome.customer_id is not None:
        return _approve(platform, visit, outcome.customer_id)
    if outcome.decision == "step_up" and embedding is not None:
        _pending.put(visit.purchase_id, embedding)
        _record(platform, visit, state="step_up")
        return [_result(visit, "step_up", STEP_UP_PROMPT)]
    if "model_pack_mismatch" in outcome.reasons:
        return _deny(platform, visit, MODEL_MISMATCH)
    return _deny(platform, visit, NOT_RECOGNISED)


def _replay(platform: Platform, purchase: PurchaseSession, visit: Visit) -> list[ServerMessage]:
    """A resent identify (the cabinet did not see our answer): answer the same way."""
    if purchase.state == "denied":
        return [_result(visit, "deny", purchase.denial_reason or "")]
    if purchase.state == "step_up":
        return [_result(visit, "step_up", STEP_UP_PROMPT)]
    if purchase.state == "identifying" and purchase.customer_id is not None:
        return _approve(platform, visit, purchase.customer_id)  # the hold is idempotent
    if purchase.state == "unlocked":
        # The unlock may have been lost with the connection; a fresh one for the
        # same session is harmless: the cabinet opens a session only once.
        return _unlock(platform, visit)
    if purchase.state == "identifying":
        return [_result(visit, "deny", "Please try again.")]
    return [_result(visit, "approve")]


def _open(
    platform: Platform, cabinet_id: str, message: Identify
) -> tuple[Visit, PurchaseSession | None]:
    """The session's visit, and the existing session when this identify is a resend."""
    with platform.sessions.begin() as session:
        cabinet = session.get(Cabinet, cabinet_id)
        assert cabinet is not None  # the gateway authenticated it
        existing = _find(session, cabinet_id, message.session_id)
        if existing is not None:
            session.expunge(existing)
            return _visit(existing, cabinet), existing
        purchase = PurchaseSession(
            cabinet_id=cabinet.id,
            cabinet_session_id=message.session_id,
            auth_method="qr" if message.qr_token else "face",
            state="identifying",
            currency=cabinet.currency,
        )
        session.add(purchase)
        session.flush()
        return _visit(purchase, cabinet), None


def identify_customer(
    platform: Platform, cabinet_id: str, message: Identify
) -> list[ServerMessage]:
    try:
        visit, existing = _open(platform, cabinet_id, message)
    except IntegrityError:  # the same identify, handled concurrently: answer as a resend
        visit, existing = _open(platform, cabinet_id, message)
    if existing is not None:
        return _replay(platform, existing, visit)
    if message.qr_token is not None:
        try:
            customer_id = redeem_qr_token(platform, message.qr_token, visit.site_id)
        except FacePayError as exc:
            return _deny(platform, visit, str(exc))
        return _approve(platform, visit, customer_id)
    assert message.embedding is not None and message.liveness is not None
    if not message.liveness.passed or (message.quality is not None and not message.quality.passed):
        return _deny(platform, visit, LIVENESS_FAILED)
    embedding = np.asarray(unpack_embedding(message.embedding), dtype=np.float32)
    outcome = identification_service(platform).identify(
        visit.site_id, embedding, pack_id=message.pack_id
    )
    return _apply(platform, visit, outcome, embedding)


def step_up(platform: Platform, cabinet_id: str, message: StepUpDigits) -> list[ServerMessage]:
    with platform.sessions.begin() as session:
        cabinet = session.get(Cabinet, cabinet_id)
        assert cabinet is not None
        purchase = _find(session, cabinet_id, message.session_id)
        if purchase is None:
            return [_result(message.session_id, "deny", "Unknown session.")]
        visit = _visit(purchase, cabinet)
        session.expunge(purchase)
    if purchase.state != "step_up":
        return _replay(platform, purchase, visit)
    embedding = _pending.take(visit.purchase_id)
    if embedding is None:
        return _deny(platform, visit, "Took too long. Please start again.")
    outcome = identification_service(platform).identify_with_step_up(
        visit.site_id, embedding, message.digits
    )
    if outcome.decision == "step_up":  # a second step-up would loop: deny instead
        return _deny(platform, visit, NOT_RECOGNISED)
    return _apply(platform, visit, outcome, None)

"""The one inbox for everything a cabinet sends.

The gateway authenticates the connection and hands over bytes; this module decodes
them, checks them, dispatches them to the checkout and answers through the one
``CabinetLink``. A message is acknowledged only once it is handled and committed (the
cabinet resends until then). Nothing a cabinet sends can end the link: a malformed
message gets an ``error`` reply, a failure while handling one is logged and answered
with an ``error`` too, and the connection goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from cabinet_runtime.protocol import (
    Ack,
    AuthResponse,
    CabinetMessage,
    DoorEvent,
    ErrorReply,
    Hello,
    Identify,
    Message,
    ProtocolError,
    SessionClosed,
    StepUpDigits,
    Telemetry,
    decode_from_cabinet,
)
from facepay.cabinets import link
from facepay.cabinets.delivery import CabinetLink, send_all
from facepay.checkout.closing import PurchaseClosing
from facepay.checkout.identify import PurchaseOpening
from facepay.errors import FacePayError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CabinetInbox:
    sessions: sessionmaker[Session]
    opening: PurchaseOpening
    closing: PurchaseClosing
    link: CabinetLink

    # -- the connection -------------------------------------------------------------------

    def authenticate(self, cabinet_id: str, nonce: bytes, signature: bytes) -> None:
        """Raises ``link.DeviceAuthError`` unless the device holds the cabinet's key."""
        with self.sessions.begin() as session:
            link.authenticate_device(session, cabinet_id, nonce, signature)
            link.set_presence(session, cabinet_id, online=True)

    def connected(self, cabinet_id: str) -> None:
        """Resend what the cabinet has not acknowledged (lost with an earlier connection)."""
        with self.sessions() as session:
            pending = list(link.unacknowledged(session, cabinet_id))
        for payload in pending:
            self.link.send(cabinet_id, payload)

    def disconnected(self, cabinet_id: str) -> None:
        with self.sessions.begin() as session:
            link.set_presence(session, cabinet_id, online=False)

    # -- messages -------------------------------------------------------------------------

    def receive(self, cabinet_id: str, data: bytes | str) -> None:
        """Handle one frame from an authenticated cabinet. Never raises."""
        try:
            message = decode_from_cabinet(data)
        except ProtocolError as exc:
            self._send(cabinet_id, self._malformed(cabinet_id, exc))
            return
        try:
            replies = self._dispatch(cabinet_id, message)
        except FacePayError as exc:  # refused on purpose: resending would not help
            log.info("cabinet %s: %s refused: %s", cabinet_id, type(message).__name__, exc)
            replies = [ErrorReply(code="refused", detail=str(exc), ref_id=message.id)]
        except Exception:
            # Not acknowledged, so the cabinet resends it later; the link stays up.
            log.exception("cabinet %s: handling %s failed", cabinet_id, type(message).__name__)
            self._send(
                cabinet_id,
                [ErrorReply(code="internal_error", detail="try again", ref_id=message.id)],
            )
            return
        if not isinstance(message, Ack):
            replies = [*replies, Ack(ack_id=message.id)]
        self._send(cabinet_id, replies)

    def _malformed(self, cabinet_id: str, error: ProtocolError) -> list[Message]:
        """Always ``bad_message``. A malformed close of an unlocked session also sends it to
        review, and is then acknowledged: it is handled for good."""
        replies: list[Message] = [
            ErrorReply(code="bad_message", detail=str(error), ref_id=error.ref_id)
        ]
        if error.message_type == SessionClosed.__struct_config__.tag and error.session_id:
            try:
                reviewed = self.closing.review_malformed(cabinet_id, error.session_id, str(error))
            except Exception:
                log.exception("cabinet %s: reviewing a malformed close failed", cabinet_id)
                reviewed = False
            if reviewed and error.ref_id is not None:
                replies.append(Ack(ack_id=error.ref_id))
        return replies

    def _dispatch(self, cabinet_id: str, message: CabinetMessage) -> Sequence[Message]:
        if isinstance(message, Identify):
            return self.opening.identify(cabinet_id, message)
        if isinstance(message, StepUpDigits):
            return self.opening.step_up(cabinet_id, message)
        if isinstance(message, SessionClosed):
            return self.closing.close(cabinet_id, message)
        if isinstance(message, Telemetry):
            with self.sessions.begin() as session:
                link.record_telemetry(session, cabinet_id, message)
            return []
        if isinstance(message, Ack):
            with self.sessions.begin() as session:
                link.acknowledge(session, cabinet_id, message.ack_id)
            return []
        if isinstance(message, (Hello, AuthResponse)):
            return [ErrorReply(code="already_authenticated", detail="", ref_id=message.id)]
        if isinstance(message, DoorEvent):
            log.info(
                "cabinet %s door %s (session %s)", cabinet_id, message.event, message.session_id
            )
            return []
        if isinstance(message, ErrorReply):
            log.warning("cabinet %s reported %s: %s", cabinet_id, message.code, message.detail)
            return []
        return [ErrorReply(code="unexpected", detail=type(message).__name__, ref_id=message.id)]

    def _send(self, cabinet_id: str, messages: Sequence[Message]) -> None:
        send_all(self.link, cabinet_id, messages)

"""What the server does with each message a cabinet sends: the checkout saga's entry.

identify → (step-up) → hold → signed unlock → door events → session_closed →
capture / void / increment → ledger → inventory → receipt → session_settled.
Every step is persisted on the purchase session before the cabinet is told,
and every handler is idempotent: cabinets resend until acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from anyio import to_thread
from sqlalchemy.orm import Session, sessionmaker

from cabinet_runtime.protocol import (
    Ack,
    CabinetMessage,
    DoorEvent,
    ErrorReply,
    Identify,
    ProtocolError,
    ServerMessage,
    SessionClosed,
    StepUpDigits,
)
from facepay.checkout.closing import close_session, review_malformed_close
from facepay.checkout.identify import identify_customer, step_up
from facepay.platform import Platform

log = logging.getLogger(__name__)

Publish = Callable[[bytes], None]


async def handle_cabinet_message(
    platform: Platform, cabinet_id: str, message: CabinetMessage, publish: Publish
) -> list[ServerMessage]:
    """Handle one message from an authenticated cabinet; returns the direct replies.

    Blocking work (database, payments, matching) runs in worker threads.
    """
    if isinstance(message, Identify):
        return await to_thread.run_sync(identify_customer, platform, cabinet_id, message)
    if isinstance(message, StepUpDigits):
        return await to_thread.run_sync(step_up, platform, cabinet_id, message)
    if isinstance(message, SessionClosed):
        return await to_thread.run_sync(close_session, platform, cabinet_id, message, publish)
    if isinstance(message, DoorEvent):
        log.info("cabinet %s door %s (session %s)", cabinet_id, message.event, message.session_id)
        return []
    if isinstance(message, ErrorReply):
        log.warning("cabinet %s reported %s: %s", cabinet_id, message.code, message.detail)
        return []
    return []


async def handle_malformed(
    sessions: sessionmaker[Session], cabinet_id: str, error: ProtocolError
) -> list[ServerMessage]:
    """The replies to a frame that failed validation: always ``bad_message``; a malformed
    close of an unlocked session also sends it to review, and is then acknowledged (it is
    handled for good, the cabinet may stop resending it)."""
    replies: list[ServerMessage] = [
        ErrorReply(code="bad_message", detail=str(error), ref_id=error.ref_id)
    ]
    if error.message_type == SessionClosed.__struct_config__.tag and error.session_id:
        reviewed = await to_thread.run_sync(
            review_malformed_close, sessions, cabinet_id, error.session_id, str(error)
        )
        if reviewed and error.ref_id is not None:
            replies.append(Ack(ack_id=error.ref_id))
    return replies

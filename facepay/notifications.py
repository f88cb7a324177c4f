"""Messages to a customer's phone (one-time codes, receipts) behind one interface.

The embedded default writes every message to the ``notification_outbox`` table
in the caller's transaction (so a message exists exactly when the change that
caused it committed) and logs it to the console. A real SMS provider
implements the same :class:`NotificationProvider`; it still records the row,
then hands the text to its gateway. The server builds one provider and hands
it to the services that send messages; there is no process-wide default.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from facepay.db.base import Base, created_column, id_column, utcnow

log = logging.getLogger("facepay.notifications")


class OutboxMessage(Base):
    __tablename__ = "notification_outbox"

    id: Mapped[str] = id_column()
    channel: Mapped[str] = mapped_column(String(16))  # sms
    recipient: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # phone_code|receipt|...
    body: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = created_column()
    delivered_at: Mapped[datetime | None]


class NotificationProvider(Protocol):
    """Sends one text message to a phone, recording it in the caller's transaction."""

    name: str

    def send(self, session: Session, *, recipient: str, kind: str, body: str) -> str:
        """Queue or send ``body`` to ``recipient`` (E.164); returns the outbox message id."""
        ...


class ConsoleOutboxProvider:
    """The embedded default: the outbox row is the delivery; the console shows it."""

    name = "console"

    def send(self, session: Session, *, recipient: str, kind: str, body: str) -> str:
        message = OutboxMessage(
            channel="sms",
            recipient=recipient,
            kind=kind,
            body=body,
            provider=self.name,
            delivered_at=utcnow(),
        )
        session.add(message)
        session.flush()
        # The phone number is masked: a console log is not the place for it.
        log.info("SMS to ...%s [%s]: %s", recipient[-4:], kind, body)
        return message.id


def messages_to(session: Session, recipient: str, kind: str | None = None) -> list[OutboxMessage]:
    """The outbox messages sent to one phone, oldest first (for operators and tests)."""
    query = select(OutboxMessage).where(OutboxMessage.recipient == recipient)
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    return list(session.scalars(query.order_by(OutboxMessage.created_at, OutboxMessage.id)))

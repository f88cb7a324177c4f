"""Tables for webhooks: inbound event dedupe and outbound endpoints, deliveries,
attempts and dead letters. They live on the payments metadata."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from payments.db import PaymentsBase, UTCDateTime


class InboundWebhookEvent(PaymentsBase):
    """One row per (provider, event id) ever accepted: the dedupe record."""

    __tablename__ = "payments_inbound_webhook_events"

    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(120))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class WebhookEndpoint(PaymentsBase):
    """A merchant's or partner's URL that receives our signed events."""

    __tablename__ = "payments_webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # The shared signing secret has to be usable to sign, so it cannot be hashed.
    secret: Mapped[str] = mapped_column(String(200))
    # Space-separated event types; empty means every event.
    event_types: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(PaymentsBase):
    """One event to one endpoint, retried until delivered or dead-lettered."""

    __tablename__ = "payments_webhook_deliveries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("payments_webhook_endpoints.id"))
    event_id: Mapped[str] = mapped_column(String(60), index=True)
    event_type: Mapped[str] = mapped_column(String(120))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Retries stop here; redelivery starts a new window.
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class WebhookAttempt(PaymentsBase):
    """Every HTTP attempt, successful or not: the delivery log operators read."""

    __tablename__ = "payments_webhook_attempts"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("payments_webhook_deliveries.id"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class WebhookDeadLetter(PaymentsBase):
    """A delivery that ran out of retries; kept until someone redelivers it."""

    __tablename__ = "payments_webhook_dead_letters"

    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("payments_webhook_deliveries.id"), primary_key=True
    )
    dead_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    redelivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

"""Idempotency records for mutating operations.

A call is identified by (scope, key). The first call claims the key, runs, and stores
its result; a repeat with the same parameters gets the stored result, with different
parameters an ``IdempotencyConflictError``. Concurrent calls with one key run once: the
claim is a primary-key insert, so losers wait for the winner's stored result.
A claim left behind by a crashed process can be taken over after ``lease``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

import msgspec
from sqlalchemy import Engine, LargeBinary, String, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from payments.db import PaymentsBase, UTCDateTime, utcnow, write_transaction
from payments.errors import (
    IdempotencyConflictError,
    IdempotencyInProgressError,
    InvalidRequestError,
)

T = TypeVar("T")

MAX_KEY_LENGTH = 200


class RecordStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class IdempotencyRecord(PaymentsBase):
    __tablename__ = "payments_idempotency_records"

    scope: Mapped[str] = mapped_column(String(60), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    response: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def request_hash(params: Mapping[str, object]) -> str:
    """A stable hash of the call's parameters (key order does not matter)."""
    encoded = msgspec.json.encode(dict(sorted(params.items())), order="deterministic")
    return hashlib.sha256(encoded).hexdigest()


@dataclass(slots=True)
class IdempotencyStore:
    engine: Engine
    retention: timedelta = timedelta(hours=24)
    lease: timedelta = timedelta(minutes=2)
    wait_timeout: float = 30.0
    poll_interval: float = 0.02

    def __post_init__(self) -> None:
        if self.retention < timedelta(hours=24):
            raise InvalidRequestError("idempotency keys must be kept at least 24 hours")

    def run(
        self,
        scope: str,
        key: str,
        params: Mapping[str, object],
        fn: Callable[[], T],
        result_type: type[T],
    ) -> T:
        """Run ``fn`` once for (scope, key); repeats get the stored result."""
        digest = request_hash(params)
        deadline = time.monotonic() + self.wait_timeout
        while True:
            try:
                with write_transaction(self.engine) as session:
                    stored = self.claim(session, scope, key, digest)
            except IntegrityError:
                continue  # a concurrent caller inserted the key first (PostgreSQL)
            if stored is None:
                break  # we own the claim
            if stored.status == RecordStatus.COMPLETED and stored.response is not None:
                return msgspec.json.decode(stored.response, type=result_type)
            self.wait(key, deadline)
        try:
            result = fn()
        except BaseException:
            with write_transaction(self.engine) as session:
                self.release(session, scope, key)
            raise
        with write_transaction(self.engine) as session:
            self.complete(session, scope, key, result)
        return result

    # The steps of ``run``, for callers that fold them into their own transactions.

    def claim(
        self, session: Session, scope: str, key: str, digest: str
    ) -> IdempotencyRecord | None:
        """Inside the caller's write transaction: ``None`` when this call now owns the key,
        else the existing record (completed, or in progress elsewhere)."""
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidRequestError(f"idempotency key must be 1-{MAX_KEY_LENGTH} characters")
        now = utcnow()
        existing = session.get(IdempotencyRecord, (scope, key), populate_existing=True)
        if existing is None:
            session.add(
                IdempotencyRecord(
                    scope=scope,
                    key=key,
                    request_hash=digest,
                    status=RecordStatus.IN_PROGRESS.value,
                    response=None,
                    claimed_at=now,
                    expires_at=now + self.retention,
                )
            )
            session.flush()
            return None
        if existing.request_hash != digest:
            raise IdempotencyConflictError(
                f"idempotency key {key!r} was used with different parameters"
            )
        if (
            existing.status == RecordStatus.IN_PROGRESS.value
            and existing.claimed_at <= now - self.lease
            and self._take_over(session, existing, now)
        ):
            return None
        return existing

    def wait(self, key: str, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise IdempotencyInProgressError(f"a call with key {key!r} is still running")
        time.sleep(self.poll_interval)

    def complete(self, session: Session, scope: str, key: str, result: object) -> None:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
            .values(
                status=RecordStatus.COMPLETED.value,
                response=msgspec.json.encode(result),
                expires_at=utcnow() + self.retention,
            )
        )

    def release(self, session: Session, scope: str, key: str) -> None:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
                IdempotencyRecord.status == RecordStatus.IN_PROGRESS.value,
            )
        )

    def purge(self, now: datetime | None = None) -> int:
        """Delete completed records past retention; returns how many were removed."""
        with write_transaction(self.engine) as session:
            result = session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.status == RecordStatus.COMPLETED.value,
                    IdempotencyRecord.expires_at <= (now or utcnow()),
                )
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    @staticmethod
    def _take_over(session: Session, record: IdempotencyRecord, now: datetime) -> bool:
        # Conditional on the old claim time, so only one of several takers wins.
        result = session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.scope == record.scope,
                IdempotencyRecord.key == record.key,
                IdempotencyRecord.claimed_at == record.claimed_at,
            )
            .values(claimed_at=now)
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    def lookup(self, scope: str, key: str) -> IdempotencyRecord | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.scalars(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            ).first()

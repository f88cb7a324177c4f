"""One-time codes that prove a customer holds a phone number.

A code is 6 random digits, sent through the notification provider and kept
only as an HMAC under a key of its own (a leaked table does not reveal
live codes). It expires after 5 minutes and dies after 5 wrong guesses; a new
code for the same phone is refused for 30 s and after 5 codes in an hour.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from facepay.compliance import audit
from facepay.customers.errors import RateLimitedError, VerificationFailedError
from facepay.customers.models import PhoneLink, PhoneVerification
from facepay.db.base import utcnow
from facepay.errors import NotFoundError
from facepay.notifications import NotificationProvider

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=5)
MAX_ATTEMPTS = 5
RESEND_INTERVAL = timedelta(seconds=30)
MAX_CODES_PER_HOUR = 5


@dataclass(frozen=True)
class VerifiedPhone:
    customer_id: str
    phone_e164: str


@dataclass(frozen=True)
class PhoneVerifier:
    """Sends one-time codes through ``notifier`` and checks them; ``code_key`` keys the hashes."""

    sessions: sessionmaker[Session]
    notifier: NotificationProvider
    code_key: bytes = field(repr=False)

    def _code_hash(self, verification_id: str, code: str) -> str:
        message = f"{verification_id}:{code}".encode()
        return hmac.new(self.code_key, message, hashlib.sha256).hexdigest()

    def send_code(
        self, session: Session, link: PhoneLink, *, now: datetime | None = None
    ) -> PhoneVerification:
        """Send a fresh code to ``link``'s phone in the caller's transaction."""
        now = now or utcnow()
        recent = list(
            session.scalars(
                select(PhoneVerification.sent_at).where(
                    PhoneVerification.phone_link_id == link.id,
                    PhoneVerification.sent_at > now - timedelta(hours=1),
                )
            )
        )
        if recent and max(recent) > now - RESEND_INTERVAL:
            wait = int((max(recent) + RESEND_INTERVAL - now).total_seconds()) + 1
            raise RateLimitedError(f"a code was sent moments ago; retry in {wait} s", wait)
        if len(recent) >= MAX_CODES_PER_HOUR:
            wait = int((min(recent) + timedelta(hours=1) - now).total_seconds()) + 1
            raise RateLimitedError(
                f"{MAX_CODES_PER_HOUR} codes were sent to this phone within an hour; "
                f"retry in {wait} s",
                wait,
            )
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        verification = PhoneVerification(
            phone_link_id=link.id, code_hash="", sent_at=now, expires_at=now + CODE_TTL, attempts=0
        )
        session.add(verification)
        session.flush()
        verification.code_hash = self._code_hash(verification.id, code)
        minutes = int(CODE_TTL.total_seconds() // 60)
        self.notifier.send(
            session,
            recipient=link.phone_e164,
            kind="phone_code",
            body=f"[FacePay] Your code is {code}. It expires in {minutes} minutes.",
        )
        return verification

    def request_code(self, phone_e164: str, *, now: datetime | None = None) -> str:
        """Send a code to an already registered phone (sign-in on a new device, or a resend)."""
        with self.sessions.begin() as session:
            link = session.scalar(select(PhoneLink).where(PhoneLink.phone_e164 == phone_e164))
            if link is None:
                raise NotFoundError("no customer is registered with this phone number")
            return self.send_code(session, link, now=now).id

    def verify(
        self, verification_id: str, code: str, *, now: datetime | None = None
    ) -> VerifiedPhone:
        """Check a code; on success the phone is verified. Wrong guesses are counted."""
        now = now or utcnow()
        failure: VerificationFailedError | None = None
        with self.sessions.begin() as session:
            verification = session.get(PhoneVerification, verification_id, with_for_update=True)
            if verification is None:
                raise NotFoundError("no such phone verification")
            link = session.get(PhoneLink, verification.phone_link_id)
            assert link is not None  # a foreign key
            if verification.verified_at is not None:
                raise VerificationFailedError("already_used", "this code has already been used")
            if now >= verification.expires_at:
                raise VerificationFailedError("expired", "the code has expired; request a new one")
            if verification.attempts >= MAX_ATTEMPTS:
                raise VerificationFailedError(
                    "too_many_attempts", "too many wrong codes; request a new one"
                )
            expected = self._code_hash(verification.id, code.strip())
            if hmac.compare_digest(expected, verification.code_hash):
                verification.verified_at = now
                first_time = link.verified_at is None
                link.verified_at = link.verified_at or now
                if first_time:
                    audit.append(
                        session,
                        actor=f"customer:{link.customer_id}",
                        action="phone.verified",
                        subject=link.customer_id,
                    )
                return VerifiedPhone(link.customer_id, link.phone_e164)
            verification.attempts += 1
            left = MAX_ATTEMPTS - verification.attempts
            failure = VerificationFailedError(
                "wrong_code" if left else "too_many_attempts",
                f"the code is wrong; {left} attempts left" if left else "too many wrong codes",
            )
        # Raised after the commit, so the counted attempt stays counted.
        raise failure

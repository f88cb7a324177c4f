"""Errors of the customer services; each maps to a problem document in the API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from facepay.errors import ConflictError, FacePayError, NotFoundError, ValidationError

_BASE = "https://facepay.dev/problems/"


class InvalidPhoneNumberError(ValidationError):
    problem_type = _BASE + "invalid-phone-number"
    title = "Invalid phone number"


class CustomerNotFoundError(NotFoundError):
    problem_type = _BASE + "customer-not-found"
    title = "Customer not found"


class PhoneAlreadyRegisteredError(ConflictError):
    problem_type = _BASE + "phone-already-registered"
    title = "Phone number already registered"


class VerificationFailedError(FacePayError):
    """Wrong, expired or exhausted code. ``reason`` is machine-readable."""

    status_code = 400
    problem_type = _BASE + "phone-verification-failed"
    title = "Phone verification failed"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # wrong_code|expired|too_many_attempts|already_used


class RateLimitedError(FacePayError):
    status_code = 429
    problem_type = _BASE + "rate-limited"
    title = "Too many requests"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class PhoneNotVerifiedError(FacePayError):
    status_code = 403
    problem_type = _BASE + "phone-not-verified"
    title = "Phone number not verified"


class ConsentRequiredError(FacePayError):
    """No face is processed without a granted biometric consent."""

    status_code = 403
    problem_type = _BASE + "biometric-consent-required"
    title = "Biometric consent required"


class EnrollmentRejectedError(FacePayError):
    """The images could not be enrolled; ``image_reasons`` says why, per image."""

    status_code = 422
    problem_type = _BASE + "enrollment-rejected"
    title = "Face enrollment rejected"

    def __init__(self, message: str, image_reasons: Mapping[int, Sequence[str]]) -> None:
        super().__init__(message)
        self.image_reasons = {i: list(r) for i, r in image_reasons.items()}


class CustomerDeletedError(ConflictError):
    problem_type = _BASE + "customer-deleted"
    title = "Customer deleted"


class AuthenticationError(FacePayError):
    status_code = 401
    problem_type = _BASE + "authentication-required"
    title = "Authentication required"


class CardLinkError(FacePayError):
    status_code = 502
    problem_type = _BASE + "card-link-failed"
    title = "Card link failed"

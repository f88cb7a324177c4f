"""Problem documents for the customer errors that carry machine-readable fields."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from litestar import Request, Response
from litestar.types import ExceptionHandler

from api.problems import problem
from facepay.customers.errors import (
    EnrollmentRejectedError,
    RateLimitedError,
    VerificationFailedError,
)
from facepay.customers.qr import QrTokenError
from facepay.errors import FacePayError


def _problem(exc: FacePayError, **extra: Any) -> Response[dict[str, Any]]:
    return problem(exc.status_code, exc.title, str(exc), exc.problem_type, **extra)


def _with_reason(
    _: Request[Any, Any, Any], exc: VerificationFailedError | QrTokenError
) -> Response[dict[str, Any]]:
    return _problem(exc, reason=exc.reason)


def _rejected(_: Request[Any, Any, Any], exc: EnrollmentRejectedError) -> Response[dict[str, Any]]:
    images = [{"index": i, "reasons": r} for i, r in sorted(exc.image_reasons.items())]
    return _problem(exc, images=images)


def _rate_limited(_: Request[Any, Any, Any], exc: RateLimitedError) -> Response[dict[str, Any]]:
    response = _problem(exc, retry_after_seconds=exc.retry_after_seconds)
    response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


# Every other FacePayError is mapped by api.problems.EXCEPTION_HANDLERS.
CUSTOMER_PROBLEMS: Mapping[int | type[Exception], ExceptionHandler[Any]] = MappingProxyType(
    {
        VerificationFailedError: _with_reason,
        QrTokenError: _with_reason,
        EnrollmentRejectedError: _rejected,
        RateLimitedError: _rate_limited,
    }
)

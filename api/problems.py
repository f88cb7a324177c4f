"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from facepay.errors import FacePayError
from payments.errors import (
    IdempotencyConflictError,
    InvalidRequestError,
    OpenDebtError,
    PaymentsError,
    ProcessorUnavailableError,
)
from payments.errors import NotFoundError as PaymentsNotFoundError

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem(
    status: int, title: str, detail: str | None = None, type_: str = "about:blank", **extra: Any
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def domain_error(_: Request[Any, Any, Any], exc: FacePayError) -> Response[dict[str, Any]]:
    return problem(exc.status_code, exc.title, str(exc), exc.problem_type)


_PAYMENTS_STATUS: tuple[tuple[type[PaymentsError], int, str], ...] = (
    (InvalidRequestError, 400, "Invalid request"),
    (PaymentsNotFoundError, 404, "Not found"),
    (OpenDebtError, 409, "Open debt"),
    (IdempotencyConflictError, 409, "Idempotency key reused"),
    (ProcessorUnavailableError, 503, "Processor unavailable"),
)


def payments_error(_: Request[Any, Any, Any], exc: PaymentsError) -> Response[dict[str, Any]]:
    for kind, status, title in _PAYMENTS_STATUS:
        if isinstance(exc, kind):
            return problem(status, title, str(exc))
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Payment error", str(exc))


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
    return problem(exc.status_code, _title(exc.status_code), exc.detail, **extra)


def unexpected_error(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal error", "an unexpected error occurred")


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


EXCEPTION_HANDLERS: Mapping[type[Exception], Any] = MappingProxyType(
    {
        FacePayError: domain_error,
        PaymentsError: payments_error,
        HTTPException: http_error,
        Exception: unexpected_error,
    }
)

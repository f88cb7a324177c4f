"""The server's domain errors. The API maps them to RFC 9457 problem details."""

from __future__ import annotations


class FacePayError(Exception):
    """Base class for errors the server raises on purpose."""

    status_code = 500
    problem_type = "about:blank"
    title = "Internal error"


class ConfigurationError(FacePayError):
    """A setting is wrong. ``setting`` names it the way an operator sets it."""

    title = "Configuration error"

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


class KeyFileError(FacePayError):
    """A key file is missing, unreadable, has loose permissions or is malformed."""

    title = "Key error"


class NotFoundError(FacePayError):
    status_code = 404
    title = "Not found"


class ValidationError(FacePayError):
    status_code = 400
    title = "Invalid request"


class ConflictError(FacePayError):
    status_code = 409
    title = "Conflict"

"""Errors raised by the face library.

Every error the library raises on purpose derives from BiometricsError, so a
caller (the API, the cabinet runtime) can map the whole family at once. Errors
that describe bad input carry a machine-readable ``reason`` next to the text.
"""


class BiometricsError(Exception):
    """Base class for every error the face library raises on purpose."""


class ModelPackError(BiometricsError):
    """A model pack is missing, incomplete, corrupt or not allowed here."""


class ImageError(BiometricsError):
    """An image cannot be used: unreadable, empty, too small or too large."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # e.g. "empty", "not_an_image", "too_large", "too_small"


class NoFaceError(BiometricsError):
    """An image holds no face where one was required."""


class EnrollmentError(BiometricsError):
    """Too few usable frames to enroll a face."""

    def __init__(self, message: str, reasons: dict[int, tuple[str, ...]]) -> None:
        super().__init__(message)
        self.reasons = reasons  # frame index -> quality reasons of the rejected frames


class LivenessModelError(BiometricsError):
    """The passive anti-spoofing model is missing, unreadable or has an unexpected shape."""


class LivenessInputError(BiometricsError):
    """Liveness evidence of the wrong shape: a depth map that is not 2-D, too few frames."""

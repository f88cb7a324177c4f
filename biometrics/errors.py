"""Errors raised by the face library."""


class BiometricsError(Exception):
    """Base class for every error the face library raises on purpose."""


class ModelPackError(BiometricsError):
    """A model pack is missing, incomplete, corrupt or not allowed here."""

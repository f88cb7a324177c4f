"""Protected face templates: AES-256-GCM under the subject's data key.

A template is the 512-d embedding, sealed under the subject's own 32-byte data
key (the server wraps data keys with its KEK; that is not this module's job).
The associated data binds the subject id, the model-pack id and the key
version, so a template cannot be moved to another subject, replayed under
another pack or opened with a stale key version without the tag failing.

Binary format, version 1 (all integers big-endian)::

    magic  b"FPTM"          4 bytes
    format version = 1      u8
    key version             u32
    pack id length          u16, then the pack id in UTF-8
    dimension               u16
    nonce                   12 bytes (random per seal)
    ciphertext + GCM tag    dimension * 4 + 16 bytes (little-endian float32 plaintext)

The header travels in clear so that a pack change is reported as "re-enrollment
needed" naming both packs, rather than as an anonymous decryption failure; the
header is also part of the associated data, so editing it breaks the tag.

Crypto-shredding: once a subject's data key is destroyed, nothing sealed under it
can be opened; :func:`destroy_data_key` zeroes a key held in a mutable buffer.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from biometrics.errors import BiometricsError

MAGIC = b"FPTM"
FORMAT_VERSION = 1
DATA_KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_FIXED_HEAD = struct.Struct(">4sBIH")  # magic, format version, key version, pack id length
_DIM = struct.Struct(">H")
_MAX_KEY_VERSION = 2**32 - 1

KeyBytes = bytes | bytearray | memoryview


class TemplateError(BiometricsError):
    """A template could not be sealed or opened."""


class TemplateFormatError(TemplateError):
    """The bytes are not a template this code understands."""


class TemplateDecryptionError(TemplateError):
    """Authentication failed: wrong or destroyed key, wrong subject, or tampering."""


class KeyVersionMismatchError(TemplateError):
    """The template was sealed under a different version of the data key."""


class PackMismatchError(TemplateError):
    """Templates of different model packs are never compared or mixed."""

    def __init__(self, expected_pack: str, actual_pack: str, what: str = "template") -> None:
        self.expected_pack = expected_pack
        self.actual_pack = actual_pack
        super().__init__(
            f"{what} belongs to model pack {actual_pack!r} but {expected_pack!r} is in use; "
            "re-enrollment needed with the current pack"
        )


@dataclass(frozen=True)
class SealedTemplate:
    key_version: int
    pack_id: str
    dim: int
    nonce: bytes
    ciphertext: bytes  # includes the 16-byte GCM tag

    def header(self) -> bytes:
        pack = self.pack_id.encode()
        return (
            _FIXED_HEAD.pack(MAGIC, FORMAT_VERSION, self.key_version, len(pack))
            + pack
            + _DIM.pack(self.dim)
        )

    def to_bytes(self) -> bytes:
        return self.header() + self.nonce + self.ciphertext

    @classmethod
    def from_bytes(cls, blob: bytes) -> SealedTemplate:
        if len(blob) < _FIXED_HEAD.size or blob[:4] != MAGIC:
            raise TemplateFormatError("not a FacePay template (bad magic or truncated)")
        _, version, key_version, pack_len = _FIXED_HEAD.unpack_from(blob)
        if version != FORMAT_VERSION:
            raise TemplateFormatError(f"unsupported template format version {version}")
        offset = _FIXED_HEAD.size
        if len(blob) < offset + pack_len + _DIM.size + NONCE_BYTES:
            raise TemplateFormatError("template is truncated")
        try:
            pack_id = blob[offset : offset + pack_len].decode()
        except UnicodeDecodeError as exc:
            raise TemplateFormatError("template pack id is not UTF-8") from exc
        offset += pack_len
        (dim,) = _DIM.unpack_from(blob, offset)
        offset += _DIM.size
        nonce = blob[offset : offset + NONCE_BYTES]
        ciphertext = blob[offset + NONCE_BYTES :]
        if len(ciphertext) != dim * 4 + TAG_BYTES:
            raise TemplateFormatError(
                f"template ciphertext is {len(ciphertext)} bytes, expected {dim * 4 + TAG_BYTES}"
            )
        return cls(key_version, pack_id, dim, bytes(nonce), bytes(ciphertext))


def new_data_key() -> bytes:
    """A fresh random 256-bit data key for one subject."""
    return AESGCM.generate_key(bit_length=256)


def destroy_data_key(key: bytearray) -> None:
    """Zero a data key held in a mutable buffer (crypto-shredding in memory).

    Python ``bytes`` cannot be wiped; callers that need shredding keep keys in a
    ``bytearray`` and also delete the wrapped copy from storage.
    """
    key[:] = bytes(len(key))


def _associated_data(header: bytes, subject_id: str) -> bytes:
    subject = subject_id.encode()
    return header + struct.pack(">H", len(subject)) + subject


def _cipher(data_key: KeyBytes) -> AESGCM:
    key = bytes(data_key)
    if len(key) != DATA_KEY_BYTES:
        raise TemplateError(f"data key must be {DATA_KEY_BYTES} bytes, got {len(key)}")
    if key == bytes(DATA_KEY_BYTES):
        raise TemplateDecryptionError("data key has been destroyed (all zero)")
    return AESGCM(key)


def _check_ids(subject_id: str, pack_id: str, key_version: int) -> None:
    if not subject_id:
        raise TemplateError("subject id must not be empty")
    if not pack_id:
        raise TemplateError("pack id must not be empty")
    if not 0 <= key_version <= _MAX_KEY_VERSION:
        raise TemplateError(f"key version must be in 0..{_MAX_KEY_VERSION}, got {key_version}")


def seal_template(
    vector: npt.ArrayLike,
    data_key: KeyBytes,
    subject_id: str,
    pack_id: str,
    key_version: int,
) -> SealedTemplate:
    """Encrypt one embedding. The vector must be 1-D, finite and non-empty."""
    _check_ids(subject_id, pack_id, key_version)
    vec = np.asarray(vector, dtype=np.float32)
    if vec.ndim != 1 or vec.size == 0 or vec.size > 0xFFFF:
        raise TemplateError(f"template must be a 1-D vector, got shape {vec.shape}")
    if not np.all(np.isfinite(vec)):
        raise TemplateError("template contains NaN or infinite values")
    cipher = _cipher(data_key)
    unsealed = SealedTemplate(key_version, pack_id, int(vec.size), os.urandom(NONCE_BYTES), b"")
    plaintext = vec.astype("<f4").tobytes()
    ciphertext = cipher.encrypt(
        unsealed.nonce, plaintext, _associated_data(unsealed.header(), subject_id)
    )
    return SealedTemplate(key_version, pack_id, unsealed.dim, unsealed.nonce, ciphertext)


def open_template(
    sealed: SealedTemplate | bytes,
    data_key: KeyBytes,
    subject_id: str,
    pack_id: str,
    key_version: int,
) -> npt.NDArray[np.float32]:
    """Decrypt a template for ``subject_id`` under the pack and key version in use.

    Raises PackMismatchError (re-enrollment needed), KeyVersionMismatchError,
    TemplateFormatError or TemplateDecryptionError; never returns a vector that
    was not sealed for exactly this subject, pack and key version.
    """
    _check_ids(subject_id, pack_id, key_version)
    template = sealed if isinstance(sealed, SealedTemplate) else SealedTemplate.from_bytes(sealed)
    if template.pack_id != pack_id:
        raise PackMismatchError(pack_id, template.pack_id)
    if template.key_version != key_version:
        raise KeyVersionMismatchError(
            f"template was sealed under key version {template.key_version}, "
            f"caller holds version {key_version}"
        )
    cipher = _cipher(data_key)
    try:
        plaintext = cipher.decrypt(
            template.nonce,
            template.ciphertext,
            _associated_data(template.header(), subject_id),
        )
    except InvalidTag as exc:
        raise TemplateDecryptionError(
            "template authentication failed (wrong key or subject, or tampered)"
        ) from exc
    return np.frombuffer(plaintext, dtype="<f4").astype(np.float32)

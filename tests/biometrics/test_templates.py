from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from biometrics.errors import BiometricsError
from biometrics.templates import (
    KeyVersionMismatchError,
    PackMismatchError,
    SealedTemplate,
    TemplateDecryptionError,
    TemplateError,
    TemplateFormatError,
    destroy_data_key,
    new_data_key,
    open_template,
    seal_template,
)

PACK = "w600k_mbf-0123456789abcdef"
OTHER_PACK = "w600k_r50-fedcba9876543210"


def _unit(seed: int) -> npt.NDArray[np.float32]:
    v = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return v / np.linalg.norm(v)


def test_round_trip_through_bytes() -> None:
    key = new_data_key()
    vec = _unit(1)
    blob = seal_template(vec, key, "subject-1", PACK, 3).to_bytes()
    out = open_template(blob, key, "subject-1", PACK, 3)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, vec)


def test_each_seal_uses_a_fresh_nonce() -> None:
    key = new_data_key()
    a = seal_template(_unit(1), key, "s", PACK, 1)
    b = seal_template(_unit(1), key, "s", PACK, 1)
    assert a.nonce != b.nonce
    assert a.ciphertext != b.ciphertext


def test_data_keys_are_random_256_bit() -> None:
    keys = {new_data_key() for _ in range(8)}
    assert len(keys) == 8
    assert all(len(k) == 32 for k in keys)


def test_wrong_subject_fails() -> None:
    key = new_data_key()
    blob = seal_template(_unit(2), key, "alice", PACK, 1).to_bytes()
    with pytest.raises(TemplateDecryptionError):
        open_template(blob, key, "bob", PACK, 1)


def test_other_pack_is_a_re_enrollment_error_naming_both_packs() -> None:
    key = new_data_key()
    blob = seal_template(_unit(3), key, "alice", PACK, 1).to_bytes()
    with pytest.raises(PackMismatchError) as info:
        open_template(blob, key, "alice", OTHER_PACK, 1)
    message = str(info.value)
    assert PACK in message
    assert OTHER_PACK in message
    assert "re-enrollment" in message


def test_wrong_key_version_fails() -> None:
    key = new_data_key()
    blob = seal_template(_unit(4), key, "alice", PACK, 1).to_bytes()
    with pytest.raises(KeyVersionMismatchError):
        open_template(blob, key, "alice", PACK, 2)


def _edit_header(
    blob: bytes, *, pack_id: str | None = None, key_version: int | None = None
) -> bytes:
    t = SealedTemplate.from_bytes(blob)
    edited = SealedTemplate(
        key_version if key_version is not None else t.key_version,
        pack_id if pack_id is not None else t.pack_id,
        t.dim,
        t.nonce,
        t.ciphertext,
    )
    return edited.to_bytes()


def test_header_relabelled_to_another_pack_fails_authentication() -> None:
    key = new_data_key()
    blob = seal_template(_unit(5), key, "alice", PACK, 1).to_bytes()
    forged = _edit_header(blob, pack_id=OTHER_PACK)
    with pytest.raises(TemplateDecryptionError):
        open_template(forged, key, "alice", OTHER_PACK, 1)


def test_header_relabelled_to_another_key_version_fails_authentication() -> None:
    key = new_data_key()
    blob = seal_template(_unit(6), key, "alice", PACK, 1).to_bytes()
    forged = _edit_header(blob, key_version=2)
    with pytest.raises(TemplateDecryptionError):
        open_template(forged, key, "alice", PACK, 2)


@pytest.mark.parametrize("position", [0, 100, 2047, -1, -17])
def test_tampered_ciphertext_fails(position: int) -> None:
    key = new_data_key()
    sealed = seal_template(_unit(7), key, "alice", PACK, 1)
    body = bytearray(sealed.ciphertext)
    body[position] ^= 0x01
    tampered = SealedTemplate(
        sealed.key_version, sealed.pack_id, sealed.dim, sealed.nonce, bytes(body)
    )
    with pytest.raises(TemplateDecryptionError):
        open_template(tampered, key, "alice", PACK, 1)


def test_tampered_nonce_fails() -> None:
    key = new_data_key()
    sealed = seal_template(_unit(7), key, "alice", PACK, 1)
    nonce = bytes([sealed.nonce[0] ^ 0x80]) + sealed.nonce[1:]
    tampered = SealedTemplate(
        sealed.key_version, sealed.pack_id, sealed.dim, nonce, sealed.ciphertext
    )
    with pytest.raises(TemplateDecryptionError):
        open_template(tampered, key, "alice", PACK, 1)


def test_wrong_key_fails() -> None:
    blob = seal_template(_unit(8), new_data_key(), "alice", PACK, 1).to_bytes()
    with pytest.raises(TemplateDecryptionError):
        open_template(blob, new_data_key(), "alice", PACK, 1)


@pytest.mark.parametrize(
    "blob",
    [b"", b"FPTM", b"XXXX" + bytes(100), b"FPTM\x02" + bytes(100)],
    ids=["empty", "magic-only", "bad-magic", "future-version"],
)
def test_malformed_bytes_are_a_format_error(blob: bytes) -> None:
    with pytest.raises(TemplateFormatError):
        open_template(blob, new_data_key(), "alice", PACK, 1)


def test_truncated_template_is_a_format_error() -> None:
    key = new_data_key()
    blob = seal_template(_unit(9), key, "alice", PACK, 1).to_bytes()
    with pytest.raises(TemplateFormatError):
        open_template(blob[:-1], key, "alice", PACK, 1)


@pytest.mark.parametrize(
    "vector",
    [np.full(512, np.nan), np.zeros((2, 256)), np.array([])],
    ids=["nan", "2d", "empty"],
)
def test_bad_vectors_are_refused(vector: npt.NDArray[np.float64]) -> None:
    with pytest.raises(TemplateError):
        seal_template(vector, new_data_key(), "alice", PACK, 1)


def test_bad_keys_and_ids_are_refused() -> None:
    with pytest.raises(TemplateError):
        seal_template(_unit(1), b"short", "alice", PACK, 1)
    with pytest.raises(TemplateError):
        seal_template(_unit(1), new_data_key(), "", PACK, 1)
    with pytest.raises(TemplateError):
        seal_template(_unit(1), new_data_key(), "alice", PACK, -1)


def test_errors_belong_to_the_library_hierarchy() -> None:
    assert issubclass(TemplateError, BiometricsError)
    assert issubclass(PackMismatchError, TemplateError)


def test_crypto_shredding_leaves_nothing_of_that_subject_decryptable() -> None:
    subjects = ["alice", "bob", "carol"]
    keys = {s: bytearray(new_data_key()) for s in subjects}
    stored = {
        s: [
            seal_template(_unit(10 * subjects.index(s) + i), keys[s], s, PACK, 1).to_bytes()
            for i in range(4)
        ]
        for s in subjects
    }
    shredded = keys.pop("bob")
    destroy_data_key(shredded)
    assert shredded == bytearray(32)

    for blob in stored["bob"]:
        # The destroyed buffer is useless, and so is every surviving key.
        with pytest.raises(TemplateDecryptionError):
            open_template(blob, shredded, "bob", PACK, 1)
        for other_key in keys.values():
            with pytest.raises(TemplateDecryptionError):
                open_template(blob, other_key, "bob", PACK, 1)
    for subject in ("alice", "carol"):
        for blob in stored[subject]:
            assert open_template(blob, keys[subject], subject, PACK, 1).shape == (512,)

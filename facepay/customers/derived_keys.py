"""Purpose-bound secrets derived from the server's signing key.

Phone-code hashes, customer session tokens and QR tokens are all checked by
this server only, so an HMAC key is enough; HKDF gives each purpose its own
key, so a value made for one purpose never verifies as another.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PHONE_CODE = "facepay/phone-code/v1"
CUSTOMER_SESSION = "facepay/customer-session/v1"
QR_TOKEN = "facepay/qr-token/v1"  # noqa: S105 - an HKDF label, not a secret


def derive_key(signing_key: Ed25519PrivateKey, purpose: str) -> bytes:
    seed = signing_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
    return hkdf.derive(seed)

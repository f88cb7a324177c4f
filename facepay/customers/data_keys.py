"""Each customer's template data key, stored only wrapped by the KEK.

Destroying the wrapped key (``shred``) makes every template sealed under it
unreadable: crypto-shredding.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facepay.customers.models import Customer
from facepay.errors import ConflictError
from facepay.keys.kek import KeyEncryptionKey


def issue_data_key(kek: KeyEncryptionKey, customer: Customer) -> bytes:
    if customer.wrapped_data_key is not None:
        raise ConflictError(f"customer {customer.id} already has a data key")
    data_key = AESGCM.generate_key(bit_length=256)
    customer.kek_version, customer.wrapped_data_key = kek.wrap(data_key, customer.id)
    return data_key


def open_data_key(kek: KeyEncryptionKey, customer: Customer) -> bytes:
    if customer.wrapped_data_key is None or customer.kek_version is None:
        raise ConflictError(f"customer {customer.id} has no data key (never issued or shredded)")
    return kek.unwrap(customer.wrapped_data_key, customer.kek_version, customer.id)


def rewrap_data_key(kek: KeyEncryptionKey, customer: Customer) -> None:
    data_key = open_data_key(kek, customer)
    customer.kek_version, customer.wrapped_data_key = kek.wrap(data_key, customer.id)


def shred_data_key(customer: Customer) -> None:
    customer.wrapped_data_key = None
    customer.kek_version = None

"""Server keys: the key-encryption key (KEK) ring and the Ed25519 signing key.

Both live in ``<data_dir>/keys`` with mode 0600 by default; the KEK is behind
the ``KeyEncryptionKey`` interface so a KMS can replace the file.
"""

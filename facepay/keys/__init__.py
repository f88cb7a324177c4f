"""Server keys: the key-encryption key (KEK) ring, the Ed25519 signing key and the
secret store (versioned, KEK-wrapped secrets per purpose).

All live in ``<data_dir>/keys`` with mode 0600 by default; the KEK is behind
the ``KeyEncryptionKey`` interface so a KMS can replace the file.
"""

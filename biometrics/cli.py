"""``python -m biometrics``: the face library from the shell, for scripting.

    detect IMAGE [--json]            faces, landmarks and quality
    compare IMAGE_A IMAGE_B [--json] similarity of the largest faces, match or not
    pack [--json]                    the model pack: id, files, licence
    --pack DIR (before the command)  another model pack; default $FACEPAY_MODEL_PACK_DIR
    calibrate FOLDER --out PATH      (from biometrics.calibration) build a threshold table

Exit status: 0 on success, 2 when an image cannot be read or holds no face
(with the reason on stderr), like any other usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biometrics.engine import DetectedFace, FaceEngine
from biometrics.errors import BiometricsError, NoFaceError
from biometrics.images import read_image
from biometrics.model_pack import inspect_pack
from biometrics.quality import assess_face

EXIT_BAD_INPUT = 2
PACK_ENV = "FACEPAY_MODEL_PACK_DIR"


def _point(x: float, y: float) -> list[float]:
    return [round(float(x), 2), round(float(y), 2)]


def _face_dict(
    engine: FaceEngine, image: Any, face: DetectedFace, faces: list[DetectedFace]
) -> dict[str, Any]:
    quality = assess_face(engine, image, face, others=faces)
    return {
        "bbox": [round(float(v), 2) for v in face.bbox],
        "score": round(face.score, 4),
        "landmarks": [_point(x, y) for x, y in face.kps],
        "quality": {"ok": quality.ok, "reasons": [str(r) for r in quality.reasons]},
    }


def _engine(args: argparse.Namespace) -> FaceEngine:
    return FaceEngine.load(inspect_pack(args.pack))


def _detect(args: argparse.Namespace) -> int:
    engine = _engine(args)
    image = read_image(args.image)
    faces = engine.detect(image)
    result = {"faces": [_face_dict(engine, image, f, faces) for f in faces]}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.image}: {len(faces)} face(s)")
        for i, face in enumerate(result["faces"]):
            quality = "ok" if face["quality"]["ok"] else ", ".join(face["quality"]["reasons"])
            print(f"  #{i} box {face['bbox']} score {face['score']} quality: {quality}")
    return 0


def _largest_face_embedding(engine: FaceEngine, path: str) -> np.ndarray:
    image = read_image(path)
    face = engine.largest_face(image)
    if face is None:
        raise NoFaceError(f"{path}: no face found")
    return np.asarray(engine.embed(image, [face])[0])


def _threshold(engine: FaceEngine, override: float | None) -> float:
    if override is not None:
        return override
    # The decision policy owns the calibrated threshold; imported here so that
    # detect never loads calibration tables.
    from biometrics.policy import default_threshold

    return float(default_threshold(engine.pack_id))


def _compare(args: argparse.Namespace) -> int:
    engine = _engine(args)
    first = _largest_face_embedding(engine, args.image_a)
    second = _largest_face_embedding(engine, args.image_b)
    threshold = _threshold(engine, args.threshold)
    score = float(np.dot(first, second))
    result = {
        "score": round(score, 4),
        "threshold": round(threshold, 4),
        "match": score >= threshold,
    }
    if args.json:
        print(json.dumps(result))
    else:
        verdict = "MATCH" if result["match"] else "no match"
        print(f"{verdict}: score {result['score']} (threshold {result['threshold']})")
    return 0


def _pack(args: argparse.Namespace) -> int:
    info = inspect_pack(args.pack)
    result = {
        "pack_id": info.pack_id,
        "path": str(info.path),
        "files": [{"role": f.role, "name": f.path.name, "sha256": f.sha256} for f in info.files],
        "licence": {
            "status": info.licence.status,
            "commercial_use_permitted": info.licence.commercial_use_permitted,
            "detail": info.licence.detail,
        },
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{info.pack_id} at {info.path}; licence: {info.licence.detail}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m biometrics", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--pack",
        type=Path,
        default=os.environ.get(PACK_ENV) or None,
        help=f"model pack directory (default: ${PACK_ENV}, else the bundled buffalo_s)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    detect = commands.add_parser("detect", help="detect faces and grade their quality")
    detect.add_argument("image", metavar="IMAGE")
    detect.add_argument("--json", action="store_true", help="print JSON")
    detect.set_defaults(func=_detect)

    compare = commands.add_parser("compare", help="compare the largest faces of two images")
    compare.add_argument("image_a", metavar="IMAGE_A")
    compare.add_argument("image_b", metavar="IMAGE_B")
    compare.add_argument("--json", action="store_true", help="print JSON")
    compare.add_argument(
        "--threshold", type=float, help="match threshold (default: the pack's calibrated one)"
    )
    compare.set_defaults(func=_compare)

    pack = commands.add_parser("pack", help="describe the model pack")
    pack.add_argument("--json", action="store_true", help="print JSON")
    pack.set_defaults(func=_pack)

    try:
        from biometrics.calibration import add_calibrate_command
    except ImportError:  # a trimmed cabinet build may ship without calibration
        pass
    else:
        add_calibrate_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BiometricsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

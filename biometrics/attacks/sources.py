"""Real face photos that ship with the installed packages, framed like a kiosk camera."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from biometrics.engine import DetectedFace, FaceEngine
from biometrics.errors import BiometricsError
from biometrics.images import read_image
from biometrics.model_pack import default_pack_dir
from biometrics.pose import estimate_pose
from biometrics.quality import QualityConfig

ImageArray = npt.NDArray[np.uint8]
FRAME_SIZE = (480, 640)  # rows, cols
MIN_IOD_PX = 28.0  # smaller faces give too few pixels for the 106-point tracks


@dataclass(frozen=True)
class SourceFace:
    name: str
    frame: ImageArray  # 640x480, the face near the centre
    face: DetectedFace


def shipped_photos() -> list[Path]:
    import insightface

    insightface_images = Path(insightface.__file__).parent / "data" / "images"
    pack = default_pack_dir()
    candidates = [insightface_images / "t1.jpg", pack / "yaoming.jpg", pack / "gdp.jpg"]
    return [p for p in candidates if p.is_file()]


def _frame_around(
    image: ImageArray, centre: tuple[float, float], scale: float, roll_deg: float
) -> ImageArray:
    """The photo scaled, turned so the eyes are level, ``centre`` in the middle."""
    rows, cols = FRAME_SIZE
    matrix = cv2.getRotationMatrix2D(centre, roll_deg, scale)
    matrix[0, 2] += cols / 2 - centre[0]
    matrix[1, 2] += rows / 2 - centre[1]
    framed = cv2.warpAffine(image, matrix, (cols, rows), borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(framed, np.uint8)


def source_faces(engine: FaceEngine, *, mirrored: bool = True) -> list[SourceFace]:
    """Every face of the shipped photos that a cabinet would go on to check: large
    enough and within the quality gate's head-pose limits (liveness runs only on
    frames that passed quality). Each is centred in its own 640x480 frame so the
    face spans ~100-160 px; mirrored copies too."""
    limits = QualityConfig()  # roll is in the image plane: undone, not filtered
    sources: list[SourceFace] = []
    for path in shipped_photos():
        try:
            photo = read_image(path)
        except BiometricsError:
            continue
        for index, face in enumerate(engine.detect(photo)):
            iod = float(np.linalg.norm(face.kps[1] - face.kps[0]))
            pose = estimate_pose(face.kps)
            if iod < MIN_IOD_PX or face.score < limits.min_detection_score:
                continue
            if abs(pose.yaw) > limits.max_yaw or abs(pose.pitch) > limits.max_pitch:
                continue
            scale = float(np.clip(50.0 / iod, 1.0, 2.0))
            centre = (float(face.kps[2][0]), float(face.kps[2][1]))
            framed = _frame_around(photo, centre, scale, pose.roll)
            variants = [(f"{path.stem}-{index}", framed)]
            if mirrored:
                flipped = np.ascontiguousarray(variants[0][1][:, ::-1])
                variants.append((f"{path.stem}-{index}-mirrored", flipped))
            for name, frame in variants:
                found = engine.detect(frame)
                if not found:
                    continue
                middle = min(found, key=lambda f: abs(f.kps[2][0] - 320) + abs(f.kps[2][1] - 240))
                sources.append(SourceFace(name, frame, middle))
    return sources

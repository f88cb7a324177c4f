"""Enrollment from several frames: keep the frames that pass quality, need enough."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from biometrics.engine import EMBEDDING_DIM, FaceEngine
from biometrics.errors import EnrollmentError
from biometrics.quality import ENROLLMENT_QUALITY, QualityConfig, QualityReason, assess_frame

MIN_ENROLLMENT_FRAMES = 3


@dataclass(frozen=True)
class EnrollmentResult:
    embeddings: npt.NDArray[np.float32]  # (k, 512), one row per kept frame
    kept: tuple[int, ...]  # indices of the frames that passed
    reasons: dict[int, tuple[QualityReason, ...]]  # every frame's reasons; () when it passed


def enroll_frames(
    engine: FaceEngine,
    frames: Sequence[npt.NDArray[Any]],
    *,
    config: QualityConfig = ENROLLMENT_QUALITY,
    min_frames: int = MIN_ENROLLMENT_FRAMES,
) -> EnrollmentResult:
    """Embeddings of the frames whose main face passes quality.

    Raises EnrollmentError (with every frame's reasons) when fewer than
    ``min_frames`` pass, so a caller can tell the user what to fix.
    """
    reasons: dict[int, tuple[QualityReason, ...]] = {}
    kept: list[int] = []
    rows: list[npt.NDArray[np.float32]] = []
    for index, frame in enumerate(frames):
        quality = assess_frame(engine, frame, config)
        reasons[index] = quality.reasons
        if quality.ok and quality.face is not None:
            kept.append(index)
            rows.append(engine.embed(frame, [quality.face])[0])
    if len(kept) < min_frames:
        summary = "; ".join(f"frame {i}: {', '.join(map(str, r))}" for i, r in reasons.items() if r)
        raise EnrollmentError(
            f"{len(kept)} of {len(frames)} frames passed quality, {min_frames} are needed"
            + (f" ({summary})" if summary else ""),
            {i: tuple(str(x) for x in r) for i, r in reasons.items() if r},
        )
    embeddings = np.vstack(rows).astype(np.float32) if rows else np.empty((0, EMBEDDING_DIM))
    return EnrollmentResult(np.asarray(embeddings, np.float32), tuple(kept), reasons)

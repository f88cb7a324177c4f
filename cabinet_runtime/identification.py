"""Identification on the device: front-camera frames → quality, liveness, embedding.

Face images never leave this module: what comes out is ``FaceEvidence`` (a
512-d embedding averaged over consecutive good frames of the same face, a
quality report and a liveness report) or ``QrEvidence`` (the token a customer's
phone shows, read with OpenCV's QR detector). Model inference is blocking; the
runtime calls ``observe`` from a worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from biometrics.engine import DetectedFace, FaceEngine
from biometrics.liveness.passive import PassiveModel
from biometrics.liveness.report import LivenessConfig, assess_liveness
from biometrics.quality import QualityConfig, assess_frame
from cabinet_runtime import protocol as p
from cabinet_runtime.hardware.interfaces import BgrFrame, DepthMap

log = logging.getLogger(__name__)

QR_PREFIX = p.QR_TOKEN_PREFIX


@dataclass(frozen=True)
class FaceEvidence:
    embedding: bytes  # 512 little-endian float32, L2-normalised
    quality: p.QualityReport
    liveness: p.LivenessReport
    pack_id: str  # the model pack that computed the embedding


@dataclass(frozen=True)
class QrEvidence:
    token: str


Evidence = FaceEvidence | QrEvidence


@dataclass
class _Streak:
    """Consecutive good frames of one face (kept on the device, in memory only)."""

    frames: list[BgrFrame] = field(default_factory=list)
    faces: list[DetectedFace] = field(default_factory=list)
    depths: list[DepthMap | None] = field(default_factory=list)
    embeddings: list[npt.NDArray[np.float32]] = field(default_factory=list)


class FrontIdentifier:
    """Turns a stream of front-camera frames into identification evidence.

    A face counts once ``frames_required`` consecutive frames passed the quality
    gates and show the same person (cosine similarity of consecutive embeddings
    at least ``same_face_similarity``); a frame that fails breaks the streak.
    Liveness is judged by biometrics: depth relief (when a depth camera
    delivered), the passive model when one is configured, and motion parallax
    across the streak only with ``motion=True`` -- for a cabinet that prompts a
    head turn; unprompted frames of a person standing still look planar.
    Without an engine only QR codes are read (a cabinet configured for QR only).
    """

    def __init__(
        self,
        engine: FaceEngine | None,
        *,
        frames_required: int = 3,
        same_face_similarity: float = 0.6,
        quality: QualityConfig | None = None,
        liveness: LivenessConfig | None = None,
        passive_model: PassiveModel | None = None,
        motion: bool = False,
        qr_prefix: str = QR_PREFIX,
    ) -> None:
        if frames_required < 1:
            raise ValueError("frames_required must be at least 1")
        self._engine = engine
        self._frames_required = frames_required
        self._same_face = same_face_similarity
        self._quality = quality or QualityConfig()
        self._liveness = liveness or LivenessConfig()
        self._passive = passive_model
        self._motion = motion
        self._qr = cv2.QRCodeDetector()
        self._qr_prefix = qr_prefix
        self._streak = _Streak()

    def reset(self) -> None:
        self._streak = _Streak()

    def read_qr(self, frame: BgrFrame) -> str | None:
        text, points, _ = self._qr.detectAndDecode(frame)
        if points is None or not text or not text.startswith(self._qr_prefix):
            return None
        return str(text)

    def observe(self, frame: BgrFrame | None, depth: DepthMap | None = None) -> Evidence | None:
        """Feed one frame (and the depth map taken with it); evidence once it is enough."""
        if frame is None:
            self.reset()
            return None
        token = self.read_qr(frame)
        if token is not None:
            self.reset()
            return QrEvidence(token)
        if self._engine is None:
            return None
        assessed = assess_frame(self._engine, frame, self._quality)
        if not assessed.ok or assessed.face is None:
            self.reset()
            return None
        face = assessed.face
        embedding = self._engine.embed(frame, [face])[0]
        streak = self._streak
        if streak.embeddings and float(streak.embeddings[-1] @ embedding) < self._same_face:
            self.reset()  # a different person stepped in
            streak = self._streak
        streak.frames.append(frame)
        streak.faces.append(face)
        streak.depths.append(depth)
        streak.embeddings.append(embedding)
        if len(streak.embeddings) < self._frames_required:
            return None
        evidence = self._evidence(streak)
        self.reset()
        return evidence

    def _evidence(self, streak: _Streak) -> FaceEvidence:
        assert self._engine is not None
        mean = np.mean(np.stack(streak.embeddings), axis=0)
        mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
        depth = streak.depths[-1]
        report = assess_liveness(
            self._engine,
            streak.frames[-1],
            streak.faces[-1],
            depth_mm=None if depth is None else depth.astype(np.float32),
            frames=streak.frames if self._motion and len(streak.frames) >= 2 else None,
            passive_model=self._passive,
            config=self._liveness,
        )
        decided = [c.score for c in report.checks if c.passed is not None]
        if not report.checks:
            reasons: tuple[str, ...] = ("no_liveness_sensor", *report.reasons)
        else:
            reasons = report.reasons
        return FaceEvidence(
            embedding=p.pack_embedding([float(x) for x in mean]),
            quality=p.QualityReport(
                score=float(min(1.0, min(f.score for f in streak.faces))),
                passed=True,
                face_width_px=int(streak.faces[-1].width),
            ),
            liveness=p.LivenessReport(
                score=min(1.0, max(0.0, min(decided, default=0.0))),
                passed=report.live,
                method="+".join(c.name for c in report.checks) or "none",
                frames=len(streak.frames),
                reasons=tuple(dict.fromkeys(reasons)),
            ),
            pack_id=self._engine.pack_id,
        )


def encode_qr(token: str, size_px: int = 400) -> BgrFrame:
    """A QR code image of ``token`` (what a phone shows), for displays and simulators."""
    encoder: Any = cv2.QRCodeEncoder.create()
    small = encoder.encode(token)
    scale = max(1, size_px // small.shape[0])
    big = cv2.resize(small, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    framed = cv2.copyMakeBorder(big, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
    return np.asarray(cv2.cvtColor(framed, cv2.COLOR_GRAY2BGR), dtype=np.uint8)

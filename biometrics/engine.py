"""The face engine: detection, 106-point landmarks, alignment and embedding.

Models come from one model pack and are loaded lazily under a lock, once per
process: ``FaceEngine.load`` returns the same engine for the same pack, and the
ONNX sessions are created on first use. onnxruntime sessions are safe to run
from several threads, so one engine serves every caller; asyncio callers go
through ``run_in_thread`` / ``adetect`` / ``aembed`` and never block the loop.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from biometrics.errors import ImageError, ModelPackError
from biometrics.model_pack import ModelPackInfo, inspect_pack

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]

EMBEDDING_DIM = 512
ALIGNED_SIZE = 112
# The detector sees the frame with its long side at 640 px (faces from ~12 px
# up) and its short side rounded up to a multiple of 32, so a 640x480 camera
# frame is not padded to 640x640 (25% less work, measured). SCRFD misses a face
# that fills the frame (a phone selfie); a cheap 128x128 pass catches it and
# NMS merges both passes.
DET_LONG_SIDE = 640
COARSE_DET_SIZE = (128, 128)
DEFAULT_DET_THRESHOLD = 0.5

# insightface's norm_crop calls a scikit-image API deprecated in 0.26; the
# result is unchanged, so the warning would only be noise on every alignment.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"insightface\.utils\.face_align")

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class DetectedFace:
    """One detected face in image pixel coordinates."""

    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    kps: FloatArray  # (5, 2): left eye, right eye, nose, left mouth, right mouth
    landmarks106: FloatArray | None = None  # (106, 2) when requested and the pack has it

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)


@dataclass
class _Models:
    detector: Any
    recognizer: Any
    landmark: Any | None


def as_bgr(image: npt.NDArray[Any]) -> ImageArray:
    """Validate an in-memory image and bring it to 3-channel uint8 BGR."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ImageError("not_an_image", "an image must be a uint8 numpy array")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageError("not_an_image", f"unsupported image shape {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ImageError("too_small", f"image of {image.shape[1]}x{image.shape[0]} is too small")
    return np.ascontiguousarray(image, dtype=np.uint8)


_engines_lock = threading.Lock()
_engines: dict[str, FaceEngine] = {}


def detector_input_size(shape: tuple[int, ...], long_side: int) -> tuple[int, int]:
    """(width, height) for the detector: the long side fixed, the short side
    scaled with the image and rounded up to the network's stride of 32."""
    height, width = shape[:2]
    short = long_side * min(height, width) / max(height, width)
    short_side = min(long_side, max(32, 32 * math.ceil(short / 32)))
    return (long_side, short_side) if width >= height else (short_side, long_side)


class FaceEngine:
    """Detection, landmarks and embedding on one model pack."""

    def __init__(
        self,
        pack: ModelPackInfo,
        *,
        threads: int | None = None,
        det_long_side: int = DET_LONG_SIDE,
        det_threshold: float = DEFAULT_DET_THRESHOLD,
    ) -> None:
        self.pack = pack
        self.threads = threads
        self.det_long_side = det_long_side
        self.det_threshold = det_threshold
        self._models: _Models | None = None
        self._load_lock = threading.Lock()

    @classmethod
    def load(cls, pack: ModelPackInfo | None = None, *, threads: int | None = None) -> FaceEngine:
        """The process-wide engine for ``pack`` (the default pack when None).

        Cheap: the models load on first use. ``threads`` sets onnxruntime's
        intra-op threads and only takes effect for the first load of a pack.
        """
        info = pack if pack is not None else inspect_pack()
        with _engines_lock:
            engine = _engines.get(info.pack_id)
            if engine is None:
                engine = cls(info, threads=threads)
                _engines[info.pack_id] = engine
            return engine

    @property
    def pack_id(self) -> str:
        return self.pack.pack_id

    @property
    def has_landmarks106(self) -> bool:
        return self.pack.file("landmark") is not None

    def prepare(self) -> FaceEngine:
        """Load every model now (e.g. at start-up) instead of on first use."""
        self._ensure_models()
        return self

    def _ensure_models(self) -> _Models:
        models = self._models
        if models is not None:
            return models
        with self._load_lock:
            if self._models is None:
                self._models = self._build_models()
            return self._models

    def _session_options(self) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # w600k declares a batch of 1 in its output shape yet runs any batch;
        # onnxruntime would warn on every batched call.
        options.log_severity_level = 3
        # Idle worker threads would otherwise busy-wait between runs; on a shared
        # 2-core box that doubled detection time and CPU use (measured).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        return options

    def _get_model(self, role: str) -> Any:
        from insightface.model_zoo import model_zoo

        pack_file = self.pack.file(role)
        if pack_file is None:
            raise ModelPackError(f"model pack {self.pack.path} has no {role} model")
        try:
            model = model_zoo.get_model(
                str(pack_file.path),
                providers=["CPUExecutionProvider"],
                sess_options=self._session_options(),
            )
        except Exception as exc:  # onnxruntime raises its own types for corrupt files
            raise ModelPackError(f"cannot load {role} model {pack_file.path}: {exc}") from exc
        if model is None:
            raise ModelPackError(f"{pack_file.path} is not a recognised {role} model")
        return model

    def _build_models(self) -> _Models:
        detector = self._get_model("detector")
        detector.prepare(ctx_id=-1, det_thresh=self.det_threshold)
        recognizer = self._get_model("recognizer")
        recognizer.prepare(ctx_id=-1)
        landmark = None
        if self.has_landmarks106:
            landmark = self._get_model("landmark")
            landmark.prepare(ctx_id=-1)
        return _Models(detector=detector, recognizer=recognizer, landmark=landmark)

    def detect(
        self, image_bgr: npt.NDArray[Any], *, landmarks106: bool = False
    ) -> list[DetectedFace]:
        """Every face in the image, highest score first.

        With ``landmarks106`` each face also carries the 106-point landmarks
        (when the pack has the landmark model).
        """
        image = as_bgr(image_bgr)
        models = self._ensure_models()
        sizes = [COARSE_DET_SIZE, detector_input_size(image.shape, self.det_long_side)]
        boxes, kpss = models.detector.detect(image, input_size=sizes)
        faces = []
        for i in range(boxes.shape[0]):
            x1, y1, x2, y2, score = (float(v) for v in boxes[i])
            kps = np.asarray(kpss[i], dtype=np.float32).reshape(5, 2)
            faces.append(DetectedFace(bbox=(x1, y1, x2, y2), score=score, kps=kps))
        if landmarks106 and models.landmark is not None:
            faces = [
                DetectedFace(f.bbox, f.score, f.kps, self._landmarks106(models, image, f))
                for f in faces
            ]
        return faces

    def largest_face(self, image_bgr: npt.NDArray[Any]) -> DetectedFace | None:
        faces = self.detect(image_bgr)
        return max(faces, key=lambda f: f.area) if faces else None

    def landmarks106(self, image_bgr: npt.NDArray[Any], face: DetectedFace) -> FloatArray:
        """The 106-point landmarks of ``face`` as a (106, 2) float32 array."""
        models = self._ensure_models()
        if models.landmark is None:
            raise ModelPackError(f"model pack {self.pack_id} has no 106-point landmark model")
        return self._landmarks106(models, as_bgr(image_bgr), face)

    @staticmethod
    def _landmarks106(models: _Models, image: ImageArray, face: DetectedFace) -> FloatArray:
        from insightface.app.common import Face

        assert models.landmark is not None
        points = models.landmark.get(image, Face(bbox=np.asarray(face.bbox, dtype=np.float32)))
        return np.asarray(points, dtype=np.float32).reshape(-1, 2)

    def align(self, image_bgr: npt.NDArray[Any], face: DetectedFace) -> ImageArray:
        """The face warped by a 5-point similarity transform to 112x112."""
        from insightface.utils import face_align

        aligned = face_align.norm_crop(
            as_bgr(image_bgr), landmark=face.kps, image_size=ALIGNED_SIZE
        )
        return np.asarray(aligned, dtype=np.uint8)

    def embed_aligned(self, aligned: Sequence[ImageArray]) -> FloatArray:
        """Embeddings of already aligned 112x112 crops, in one recognizer run."""
        if not aligned:
            return np.empty((0, EMBEDDING_DIM), dtype=np.float32)
        models = self._ensure_models()
        raw = np.asarray(models.recognizer.get_feat(list(aligned)), dtype=np.float32)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return np.asarray(raw / np.maximum(norms, 1e-12), dtype=np.float32)

    def embed(self, image_bgr: npt.NDArray[Any], faces: Sequence[DetectedFace]) -> FloatArray:
        """(n, 512) L2-normalised float32 embeddings of ``faces`` in ``image_bgr``."""
        image = as_bgr(image_bgr)
        return self.embed_aligned([self.align(image, face) for face in faces])

    async def adetect(
        self, image_bgr: npt.NDArray[Any], *, landmarks106: bool = False
    ) -> list[DetectedFace]:
        return await run_in_thread(
            functools.partial(self.detect, landmarks106=landmarks106), image_bgr
        )

    async def aembed(
        self, image_bgr: npt.NDArray[Any], faces: Sequence[DetectedFace]
    ) -> FloatArray:
        return await run_in_thread(self.embed, image_bgr, faces)


# Inference is CPU-bound and onnxruntime already uses every core per run, so a
# small dedicated pool keeps model calls from crowding out other to_thread work.
_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def inference_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="biometrics")
        return _executor


async def run_in_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking ``fn`` on the inference pool without blocking the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(inference_executor(), functools.partial(fn, *args, **kwargs))

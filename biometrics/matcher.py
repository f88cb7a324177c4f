"""1:N face matching inside named cohorts (one cohort per site).

A :class:`Matcher` holds decrypted templates in memory only, one vector per
subject per cohort, all from one model pack: a vector or probe from another
pack is refused (re-enrollment needed), never compared. Each cohort starts on
exact search and moves to an HNSW graph once it holds ``hnsw_threshold``
subjects (and back below half of that, so a cohort at the boundary does not
flip-flop). The threshold default comes from measurement, see
``docs/biometrics.md`` and ``benchmarks/biometrics.py``.

Add, update and remove are visible to the next query. Each cohort has a
readers-writer lock: searches run concurrently, writes are exclusive.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from biometrics.errors import BiometricsError
from biometrics.matcher_exact import ExactIndex
from biometrics.matcher_hnsw import HnswIndex, HnswParams
from biometrics.templates import PackMismatchError

EMBEDDING_DIM = 512
# Measured on 2 shared CPU cores (docs/biometrics.md): exact search is 0.3 ms p50
# at 5k subjects and grows linearly (1.7 ms at 10k, 3.6 ms at 20k) while HNSW
# stays at 0.15-0.4 ms; below 5k exact is both fast and exact.
DEFAULT_HNSW_THRESHOLD = 5_000

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]


class MatcherError(BiometricsError):
    """A matcher call was refused; nothing was changed."""


class InvalidVectorError(MatcherError):
    """A vector has the wrong shape, is not finite or is all zero."""


class UnknownCohortError(MatcherError):
    """No cohort by that name exists."""


class UnknownSubjectError(MatcherError):
    """The claimed subject is not enrolled in that cohort."""


@dataclass(frozen=True)
class Candidate:
    subject_id: str
    score: float  # cosine similarity, -1..1


@dataclass(frozen=True)
class CohortStats:
    name: str
    size: int
    backend: str  # "exact" | "hnsw"
    memory_bytes: int


class _ReadWriteLock:
    """Many readers or one writer; writers are not starved by a stream of readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def as_unit_vectors(vectors: npt.ArrayLike, dim: int = EMBEDDING_DIM) -> Matrix:
    """Validate and L2-normalise a (n, dim) or (dim,) array; raises InvalidVectorError."""
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidVectorError(f"not a numeric vector: {exc}") from exc
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise InvalidVectorError(f"expected vectors of dimension {dim}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidVectorError("vector contains NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1)
    if np.any(norms < 1e-6):
        raise InvalidVectorError("vector is all zero")
    return np.ascontiguousarray(arr / norms[:, None], dtype=np.float32)


def as_probe(probe: npt.ArrayLike, dim: int = EMBEDDING_DIM) -> Vector:
    """One validated, L2-normalised probe vector."""
    rows = as_unit_vectors(probe, dim)
    if rows.shape[0] != 1:
        raise InvalidVectorError(f"expected one probe vector, got {rows.shape[0]}")
    return rows.reshape(-1)


class _Cohort:
    def __init__(self, name: str, dim: int, threshold: int, params: HnswParams) -> None:
        self.name = name
        self.dim = dim
        self.threshold = threshold
        self.params = params
        self.lock = _ReadWriteLock()
        self.index: ExactIndex | HnswIndex = ExactIndex(dim)

    def _migrate(self, target: ExactIndex | HnswIndex) -> None:
        for ids, vectors in self.index.items():
            target.upsert(ids, vectors)
        self.index = target

    def upsert(self, ids: Sequence[str], vectors: Matrix) -> None:
        new = sum(1 for s in set(ids) if s not in self.index)
        if isinstance(self.index, ExactIndex) and len(self.index) + new >= self.threshold:
            self._migrate(HnswIndex(self.dim, self.params, capacity=len(self.index) + new))
        self.index.upsert(ids, vectors)

    def remove(self, subject_id: str) -> bool:
        removed = self.index.remove(subject_id)
        if isinstance(self.index, HnswIndex) and len(self.index) < self.threshold // 2:
            self._migrate(ExactIndex(self.dim))
        return removed


class Matcher:
    """In-memory 1:N matcher for one model pack, partitioned by cohort."""

    def __init__(
        self,
        pack_id: str,
        *,
        dim: int = EMBEDDING_DIM,
        hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD,
        hnsw_params: HnswParams | None = None,
    ) -> None:
        if not pack_id:
            raise MatcherError("a matcher needs the model-pack id of its templates")
        if hnsw_threshold < 2:
            raise MatcherError("hnsw_threshold must be at least 2")
        self.pack_id = pack_id
        self.dim = dim
        self.hnsw_threshold = hnsw_threshold
        self.hnsw_params = hnsw_params or HnswParams()
        self._cohorts: dict[str, _Cohort] = {}
        self._registry_lock = threading.Lock()

    # -- cohorts ---------------------------------------------------------------

    def create_cohort(self, cohort: str) -> None:
        """Create an empty cohort (idempotent), so a site with nobody enrolled can be searched."""
        self._cohort(cohort, create=True)

    def drop_cohort(self, cohort: str) -> bool:
        with self._registry_lock:
            return self._cohorts.pop(cohort, None) is not None

    def cohorts(self) -> list[str]:
        with self._registry_lock:
            return sorted(self._cohorts)

    def _cohort(self, name: str, *, create: bool = False) -> _Cohort:
        if not name:
            raise MatcherError("cohort name must not be empty")
        with self._registry_lock:
            found = self._cohorts.get(name)
            if found is None:
                if not create:
                    raise UnknownCohortError(f"no cohort named {name!r}")
                found = _Cohort(name, self.dim, self.hnsw_threshold, self.hnsw_params)
                self._cohorts[name] = found
            return found

    def _check_pack(self, pack_id: str, what: str) -> None:
        if pack_id != self.pack_id:
            raise PackMismatchError(self.pack_id, pack_id, what)

    # -- writes ----------------------------------------------------------------

    def add(self, cohort: str, subject_id: str, vector: npt.ArrayLike, *, pack_id: str) -> None:
        """Enroll or replace one subject's template; visible to the next search."""
        self.add_many(cohort, [subject_id], vector, pack_id=pack_id)

    def add_many(
        self, cohort: str, subject_ids: Sequence[str], vectors: npt.ArrayLike, *, pack_id: str
    ) -> None:
        """Enroll or replace many subjects at once (e.g. rebuilding from storage)."""
        self._check_pack(pack_id, "template")
        ids = list(subject_ids)
        if any(not isinstance(s, str) or not s for s in ids):
            raise MatcherError("subject ids must be non-empty strings")
        if len(set(ids)) != len(ids):
            raise MatcherError("subject ids in one call must be unique")
        matrix = as_unit_vectors(vectors, self.dim)
        if matrix.shape[0] != len(ids):
            raise MatcherError(f"{len(ids)} subject ids but {matrix.shape[0]} vectors")
        target = self._cohort(cohort, create=True)
        with target.lock.write():
            target.upsert(ids, matrix)

    def remove(self, cohort: str, subject_id: str) -> bool:
        """Remove a subject; returns False if it was not enrolled. Never returned again."""
        try:
            target = self._cohort(cohort)
        except UnknownCohortError:
            return False
        with target.lock.write():
            return target.remove(subject_id)

    # -- reads -----------------------------------------------------------------

    def search(
        self, cohort: str, probe: npt.ArrayLike, k: int = 5, *, pack_id: str
    ) -> list[Candidate]:
        """Top-k enrolled subjects by cosine similarity, best first."""
        self._check_pack(pack_id, "probe")
        if k < 1:
            raise MatcherError("k must be at least 1")
        query = as_probe(probe, self.dim)
        target = self._cohort(cohort)
        with target.lock.read():
            hits = target.index.search(query, k)
        return [Candidate(subject_id, score) for subject_id, score in hits]

    def verify(self, cohort: str, subject_id: str, probe: npt.ArrayLike, *, pack_id: str) -> float:
        """1:1: the cosine similarity between the probe and a claimed subject's template."""
        self._check_pack(pack_id, "probe")
        query = as_probe(probe, self.dim)
        target = self._cohort(cohort)
        with target.lock.read():
            template = target.index.vector(subject_id)
        if template is None:
            raise UnknownSubjectError(f"subject {subject_id!r} is not enrolled in {cohort!r}")
        return float(template @ query)

    def verify_many(
        self, cohort: str, subject_ids: Sequence[str], probe: npt.ArrayLike, *, pack_id: str
    ) -> list[Candidate]:
        """Scores against a narrowed gallery (e.g. after a step-up), best first.

        Subjects not enrolled in the cohort are left out, not an error: a step-up
        factor may name people who enrolled elsewhere.
        """
        self._check_pack(pack_id, "probe")
        query = as_probe(probe, self.dim)
        target = self._cohort(cohort)
        with target.lock.read():
            found = [(s, target.index.vector(s)) for s in dict.fromkeys(subject_ids)]
        scored = [Candidate(s, float(v @ query)) for s, v in found if v is not None]
        return sorted(scored, key=lambda c: c.score, reverse=True)

    def size(self, cohort: str) -> int:
        try:
            target = self._cohort(cohort)
        except UnknownCohortError:
            return 0
        with target.lock.read():
            return len(target.index)

    def stats(self, cohort: str) -> CohortStats:
        target = self._cohort(cohort)
        with target.lock.read():
            index = target.index
            return CohortStats(cohort, len(index), index.kind, index.memory_bytes())

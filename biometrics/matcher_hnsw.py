"""Approximate 1:N search on an HNSW graph (hnswlib, inner product).

hnswlib rather than faiss ``IndexHNSWFlat``: hnswlib deletes natively
(``mark_deleted`` hides an element from every later search, and
``replace_deleted`` reuses its slot), updates a vector in place under the same
label, and takes 64-bit labels. faiss HNSW cannot remove at all, so it would
need tombstones, over-fetching and periodic rebuilds to keep removed people out
of results. Both libraries run the same algorithm at similar speed.

Labels are integers handed out once and never reused, so a stale label can
never be mistaken for a newer subject; results are also checked against the
live id map. Not thread-safe on its own: the cohort holds the lock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import hnswlib
import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class HnswParams:
    """Graph parameters, chosen with benchmarks/biometrics.py (see docs/biometrics.md)."""

    m: int = 32
    ef_construction: int = 200
    ef_search: int = 48
    # A best answer below this cosine looks like an impostor: either the probe's
    # owner is not enrolled or the graph walk missed them. Search again, each
    # time ``escalate_factor`` times wider, up to ``escalate_steps`` times. Only
    # such probes pay (mostly strangers, who are denied anyway). Measured recall@1
    # at 1M (docs/biometrics.md): 0.871 plain -> 0.996 with 3 steps; with M=16
    # the same steps stopped at 0.983, hence the denser graph.
    escalate_below: float = 0.5
    escalate_factor: int = 4
    escalate_steps: int = 3
    seed: int = 100
    bulk_threads: int = 0  # threads for a batch of >= 1000 (0: all cores); single adds use one


class HnswIndex:
    kind = "hnsw"

    def __init__(self, dim: int, params: HnswParams | None = None, capacity: int = 1024) -> None:
        self.dim = dim
        self.params = params or HnswParams()
        self._index = hnswlib.Index(space="ip", dim=dim)
        self._index.init_index(
            max_elements=max(capacity, 16),
            M=self.params.m,
            ef_construction=self.params.ef_construction,
            random_seed=self.params.seed,
            allow_replace_deleted=True,
        )
        self._index.set_ef(self.params.ef_search)
        self._label_of: dict[str, int] = {}
        self._id_of: dict[int, str] = {}
        self._next_label = 0
        self._deleted = 0  # slots marked deleted and not yet reused
        self._ef_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._label_of)

    def __contains__(self, subject_id: object) -> bool:
        return subject_id in self._label_of

    def _reserve(self, extra: int) -> None:
        # Reused deleted slots do not need room; new ones do.
        needed = len(self._label_of) + self._deleted + extra
        capacity = int(self._index.get_max_elements())
        if needed > capacity:
            self._index.resize_index(max(needed, 2 * capacity))

    def upsert(self, ids: Sequence[str], vectors: Matrix, threads: int | None = None) -> None:
        updates = [i for i, s in enumerate(ids) if s in self._label_of]
        fresh = [i for i, s in enumerate(ids) if s not in self._label_of]
        num_threads = threads or (
            (self.params.bulk_threads or os.cpu_count() or 1) if len(ids) >= 1000 else 1
        )
        if updates:
            labels = np.array([self._label_of[ids[i]] for i in updates], dtype=np.int64)
            self._index.add_items(vectors[updates], labels, num_threads=num_threads)
        if not fresh:
            return
        self._reserve(len(fresh))
        labels = np.arange(self._next_label, self._next_label + len(fresh), dtype=np.int64)
        self._next_label += len(fresh)
        # Deleted slots are reused first; hnswlib appends the rest.
        self._index.add_items(vectors[fresh], labels, num_threads=num_threads, replace_deleted=True)
        self._deleted -= min(self._deleted, len(fresh))
        for i, label in zip(fresh, labels.tolist(), strict=True):
            self._label_of[ids[i]] = label
            self._id_of[label] = ids[i]

    def remove(self, subject_id: str) -> bool:
        label = self._label_of.pop(subject_id, None)
        if label is None:
            return False
        del self._id_of[label]
        self._index.mark_deleted(label)
        self._deleted += 1
        return True

    def vector(self, subject_id: str) -> Vector | None:
        label = self._label_of.get(subject_id)
        if label is None:
            return None
        return np.asarray(self._index.get_items([label])[0], dtype=np.float32)

    def items(self) -> Iterator[tuple[list[str], Matrix]]:
        ids = list(self._label_of)
        chunk = 65536
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            labels = [self._label_of[s] for s in part]
            yield part, np.asarray(self._index.get_items(labels), dtype=np.float32)

    def set_ef_search(self, ef: int) -> None:
        """Change the search breadth (recall against latency); not while searching."""
        self.params = replace(self.params, ef_search=ef)
        self._index.set_ef(ef)

    def _scan(self, query: Vector, k: int) -> list[tuple[str, float]]:
        best: list[tuple[str, float]] = []
        for ids, vectors in self.items():
            scores = vectors @ query
            best.extend(zip(ids, scores.tolist(), strict=True))
            best = sorted(best, key=lambda hit: hit[1], reverse=True)[:k]
        return best

    def _query(self, query: Vector, k: int) -> list[tuple[str, float]]:
        # hnswlib searches with max(ef, k), so a large k needs no ef change.
        labels, distances = self._index.knn_query(query, k=k, num_threads=1)
        out = []
        # hnswlib's inner-product distance is 1 - <q, x>.
        for label, distance in zip(labels[0].tolist(), distances[0].tolist(), strict=True):
            subject_id = self._id_of.get(int(label))
            if subject_id is not None:
                out.append((subject_id, 1.0 - float(distance)))
        return out

    def _escalate(self, query: Vector, k: int) -> list[tuple[str, float]]:
        # The graph's ef is shared: a search that runs meanwhile only gets wider
        # (slower, never wrong); escalations take turns.
        hits: list[tuple[str, float]] = []
        with self._ef_lock:
            ef = self.params.ef_search
            try:
                for _ in range(self.params.escalate_steps):
                    ef *= self.params.escalate_factor
                    self._index.set_ef(ef)
                    hits = self._query(query, k)
                    if hits and hits[0][1] >= self.params.escalate_below:
                        break
            finally:
                self._index.set_ef(self.params.ef_search)
        return hits

    def search(self, query: Vector, k: int) -> list[tuple[str, float]]:
        k = min(k, len(self._label_of))
        if k <= 0:
            return []
        try:
            hits = self._query(query, k)
            if self.params.escalate_steps and (not hits or hits[0][1] < self.params.escalate_below):
                hits = self._escalate(query, k)
        except RuntimeError:
            # Too few live elements reachable for k (heavy deletions): answer
            # with an exact scan of the live vectors rather than fail.
            return self._scan(query, k)
        return hits

    def save_graph(self, path: str) -> list[str]:
        """Write the graph to ``path`` and return the ids in label order.

        For benchmarks on synthetic data only: the file holds the vectors in
        clear, and real templates must stay encrypted at rest.
        """
        if self._deleted or len(self._label_of) != self._next_label:
            raise ValueError("only a freshly built index without deletions can be saved")
        # Written aside and renamed: an interrupted save must not leave a half
        # file that a later run loads as a cached graph.
        partial = f"{path}.partial"
        self._index.save_index(partial)
        os.replace(partial, path)
        return [self._id_of[label] for label in range(self._next_label)]

    @classmethod
    def load_graph(
        cls, path: str, dim: int, ids: Sequence[str], params: HnswParams | None = None
    ) -> HnswIndex:
        """Counterpart of :meth:`save_graph` (labels 0..n-1 belong to ``ids``)."""
        index = cls(dim, params, capacity=16)
        index._index = hnswlib.Index(space="ip", dim=dim)
        index._index.load_index(path, max_elements=len(ids), allow_replace_deleted=True)
        index._index.set_ef(index.params.ef_search)
        index._label_of = {s: i for i, s in enumerate(ids)}
        index._id_of = dict(enumerate(ids))
        index._next_label = len(ids)
        return index

    def memory_bytes(self) -> int:
        # Level 0 holds vector, links and label per slot; hnswlib adds a lock, a
        # level pointer and a label-map entry (~100 bytes); upper levels hold ~1/M
        # of the elements; the Python id maps take ~150 bytes per live id.
        m0 = 2 * self.params.m
        slots = int(self._index.get_max_elements())
        per_slot = self.dim * 4 + 4 + m0 * 4 + 8 + 100
        upper = slots // max(self.params.m, 2) * (4 + self.params.m * 4)
        return slots * per_slot + upper + 150 * len(self._label_of)

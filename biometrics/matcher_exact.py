"""Exact 1:N search: one matrix-vector product over the whole cohort.

Rows live in one contiguous float32 matrix that grows geometrically; removal
moves the last row into the hole so the live rows stay contiguous and a search
is a single BLAS call. Not thread-safe on its own: the cohort holds the lock.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]

_INITIAL_CAPACITY = 64


class ExactIndex:
    kind = "exact"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._matrix: Matrix = np.empty((_INITIAL_CAPACITY, dim), dtype=np.float32)
        self._ids: list[str] = []
        self._row_of: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, subject_id: object) -> bool:
        return subject_id in self._row_of

    def _reserve(self, extra: int) -> None:
        needed = len(self._ids) + extra
        if needed <= self._matrix.shape[0]:
            return
        capacity = max(needed, 2 * self._matrix.shape[0])
        grown = np.empty((capacity, self.dim), dtype=np.float32)
        grown[: len(self._ids)] = self._matrix[: len(self._ids)]
        self._matrix = grown

    def upsert(self, ids: Sequence[str], vectors: Matrix) -> None:
        self._reserve(len(ids))
        for subject_id, vec in zip(ids, vectors, strict=True):
            row = self._row_of.get(subject_id)
            if row is None:
                row = len(self._ids)
                self._ids.append(subject_id)
                self._row_of[subject_id] = row
            self._matrix[row] = vec

    def remove(self, subject_id: str) -> bool:
        row = self._row_of.pop(subject_id, None)
        if row is None:
            return False
        last = len(self._ids) - 1
        if row != last:
            moved = self._ids[last]
            self._matrix[row] = self._matrix[last]
            self._ids[row] = moved
            self._row_of[moved] = row
        self._ids.pop()
        return True

    def vector(self, subject_id: str) -> Vector | None:
        row = self._row_of.get(subject_id)
        return None if row is None else self._matrix[row].copy()

    def items(self) -> Iterator[tuple[list[str], Matrix]]:
        """Live ids and vectors in chunks, for migrating to another index."""
        chunk = 65536
        for start in range(0, len(self._ids), chunk):
            stop = min(start + chunk, len(self._ids))
            yield self._ids[start:stop], self._matrix[start:stop]

    def search(self, query: Vector, k: int) -> list[tuple[str, float]]:
        n = len(self._ids)
        k = min(k, n)
        if k <= 0:
            return []
        scores = self._matrix[:n] @ query
        top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        order = top[np.argsort(-scores[top], kind="stable")]
        return [(self._ids[i], float(scores[i])) for i in order]

    def memory_bytes(self) -> int:
        # Allocated matrix plus a rough 100 bytes per id for the list and dict entries.
        return int(self._matrix.nbytes) + 100 * len(self._ids)

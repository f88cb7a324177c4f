"""The benchmark's cached graphs: written aside and renamed, so a build that is
interrupted while saving never leaves a half file that a later run trusts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biometrics.matcher_hnsw import HnswIndex


def test_saved_graph_loads_and_no_partial_file_remains(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(300, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"p{i}" for i in range(300)]
    index = HnswIndex(512, capacity=300)
    index.upsert(ids, vectors)
    path = tmp_path / "graph.bin"
    saved_ids = index.save_graph(str(path))
    assert path.is_file()
    assert list(tmp_path.iterdir()) == [path]
    loaded = HnswIndex.load_graph(str(path), 512, saved_ids)
    assert loaded.search(vectors[42], 1)[0][0] == "p42"

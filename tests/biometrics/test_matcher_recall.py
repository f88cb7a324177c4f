"""HNSW against exact search on a realistic synthetic gallery of 20,000 people.

The gallery has the genuine and impostor similarity spread of the real shipped
faces (biometrics.synthetic, fitted to the default calibration table), so
neighbours crowd each other as they do in a real gallery.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from biometrics.calibration import default_table
from biometrics.matcher import Matcher
from biometrics.model_pack import inspect_pack
from biometrics.synthetic import SimilaritySpread, SyntheticFaces

SITE = "big-site"
N = 20_000


@dataclass(frozen=True)
class Setup:
    matcher: Matcher
    pack_id: str
    gallery: npt.NDArray[np.float32]
    probes: npt.NDArray[np.float32]
    probe_ids: npt.NDArray[np.int64]
    faces: SyntheticFaces


@pytest.fixture(scope="module")
def setup() -> Setup:
    pack_id = inspect_pack().pack_id
    faces = SyntheticFaces(SimilaritySpread.from_table(default_table(pack_id)), seed=11)
    data = faces.gallery(N, 1000, seed=12)
    matcher = Matcher(pack_id)
    matcher.add_many(SITE, [f"p{i}" for i in range(N)], data.gallery, pack_id=pack_id)
    return Setup(matcher, pack_id, data.gallery, data.probes, data.probe_ids, faces)


def test_a_cohort_of_20k_runs_on_hnsw(setup: Setup) -> None:
    stats = setup.matcher.stats(SITE)
    assert stats.backend == "hnsw"
    assert stats.size == N


def test_hnsw_recall_at_one_against_exact_search(setup: Setup) -> None:
    exact_top1 = (setup.probes @ setup.gallery.T).argmax(axis=1)
    hnsw_top1 = np.array(
        [
            int(setup.matcher.search(SITE, p, k=1, pack_id=setup.pack_id)[0].subject_id[1:])
            for p in setup.probes
        ]
    )
    recall = float(np.mean(hnsw_top1 == exact_top1))
    assert recall >= 0.995, recall
    # The gallery is hard enough that exact search itself is not perfect.
    identification = float(np.mean(exact_top1 == setup.probe_ids))
    assert 0.9 < identification <= 1.0


def test_gallery_is_not_random_directions(setup: Setup) -> None:
    sample = setup.gallery[:2000]
    scores = (sample @ sample.T)[np.triu_indices(2000, 1)]
    # Random unit vectors in 512-d: mean 0, std 0.044. Real faces spread wider.
    assert scores.std() > 0.07
    assert scores.mean() > 0.01


def test_live_remove_and_add_at_scale(setup: Setup) -> None:
    m, pack = setup.matcher, setup.pack_id
    removed = setup.probe_ids[:100]
    for i in removed:
        assert m.remove(SITE, f"p{i}")
    try:
        for i, probe in zip(removed, setup.probes[:100], strict=True):
            hits = m.search(SITE, probe, k=10, pack_id=pack)
            assert all(h.subject_id != f"p{i}" for h in hits)
        newcomers = setup.faces.gallery(50, 50, seed=99)
        m.add_many(SITE, [f"new{i}" for i in range(50)], newcomers.gallery, pack_id=pack)
        found = [
            m.search(SITE, probe, k=1, pack_id=pack)[0].subject_id for probe in newcomers.probes
        ]
        expected = [f"new{i}" for i in newcomers.probe_ids]
        assert np.mean([f == e for f, e in zip(found, expected, strict=True)]) >= 0.95
        assert m.size(SITE) == N - 100 + 50
    finally:
        for i in removed:
            m.add(SITE, f"p{i}", setup.gallery[i], pack_id=pack)


def test_more_probes_leave_the_gallery_unchanged(setup: Setup) -> None:
    # Benchmarks cache a 1M graph per gallery; asking for more probes must not change it.
    few = setup.faces.gallery(3000, 10, seed=5)
    many = setup.faces.gallery(3000, 500, seed=5)
    assert np.array_equal(few.gallery, many.gallery)
    owners = (many.probes @ many.gallery.T).argmax(axis=1)
    assert np.mean(owners == many.probe_ids) > 0.95

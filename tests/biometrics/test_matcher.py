from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt
import pytest

from biometrics.errors import BiometricsError
from biometrics.matcher import (
    InvalidVectorError,
    Matcher,
    MatcherError,
    UnknownCohortError,
    UnknownSubjectError,
)
from biometrics.templates import PackMismatchError

PACK = "w600k_mbf-test"
SITE = "site-1"


def _units(n: int, seed: int) -> npt.NDArray[np.float32]:
    v = np.random.default_rng(seed).standard_normal((n, 512)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _near(v: npt.NDArray[np.float32], seed: int, noise: float = 0.3) -> npt.NDArray[np.float32]:
    out = v + noise * _units(1, seed)[0]
    return np.asarray(out / np.linalg.norm(out), dtype=np.float32)


@pytest.fixture(params=["exact", "hnsw"])
def matcher(request: pytest.FixtureRequest) -> Matcher:
    # A threshold of 2 puts every cohort with two or more people on HNSW.
    threshold = 10**9 if request.param == "exact" else 2
    return Matcher(PACK, hnsw_threshold=threshold)


def _enroll(matcher: Matcher, n: int, seed: int = 0) -> npt.NDArray[np.float32]:
    vectors = _units(n, seed)
    matcher.add_many(SITE, [f"s{i}" for i in range(n)], vectors, pack_id=PACK)
    return vectors


def test_backend_follows_size(matcher: Matcher) -> None:
    _enroll(matcher, 50)
    expected = "hnsw" if matcher.hnsw_threshold == 2 else "exact"
    assert matcher.stats(SITE).backend == expected
    assert matcher.stats(SITE).size == 50


def test_top_k_is_sorted_and_finds_the_owner(matcher: Matcher) -> None:
    vectors = _enroll(matcher, 200)
    for i in (0, 57, 199):
        hits = matcher.search(SITE, _near(vectors[i], 1000 + i), k=5, pack_id=PACK)
        assert hits[0].subject_id == f"s{i}"
        assert len(hits) == 5
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert 0.5 < scores[0] <= 1.0


def test_k_larger_than_cohort_returns_everyone(matcher: Matcher) -> None:
    _enroll(matcher, 3)
    assert len(matcher.search(SITE, _units(1, 9)[0], k=10, pack_id=PACK)) == 3


def test_add_is_visible_to_the_next_query(matcher: Matcher) -> None:
    _enroll(matcher, 100)
    newcomer = _units(1, 77)[0]
    matcher.add(SITE, "new", newcomer, pack_id=PACK)
    assert matcher.search(SITE, _near(newcomer, 5), k=1, pack_id=PACK)[0].subject_id == "new"


def test_update_replaces_the_template(matcher: Matcher) -> None:
    vectors = _enroll(matcher, 100)
    replacement = _units(1, 88)[0]
    matcher.add(SITE, "s10", replacement, pack_id=PACK)
    assert matcher.size(SITE) == 100
    assert matcher.search(SITE, _near(replacement, 6), k=1, pack_id=PACK)[0].subject_id == "s10"
    old_hits = matcher.search(SITE, vectors[10], k=100, pack_id=PACK)
    old_score = next(h.score for h in old_hits if h.subject_id == "s10")
    assert old_score < 0.3


def test_removed_subject_is_never_returned(matcher: Matcher) -> None:
    vectors = _enroll(matcher, 100)
    for i in range(0, 100, 2):
        assert matcher.remove(SITE, f"s{i}")
    assert not matcher.remove(SITE, "s0")
    assert matcher.size(SITE) == 50
    for i in range(0, 100, 2):
        hits = matcher.search(SITE, vectors[i], k=100, pack_id=PACK)
        assert len(hits) == 50
        assert all(int(h.subject_id[1:]) % 2 == 1 for h in hits)
    with pytest.raises(UnknownSubjectError):
        matcher.verify(SITE, "s0", vectors[0], pack_id=PACK)


def test_removed_slots_are_reused_and_re_adding_works(matcher: Matcher) -> None:
    vectors = _enroll(matcher, 60)
    for i in range(30):
        matcher.remove(SITE, f"s{i}")
    fresh = _units(30, 5)
    matcher.add_many(SITE, [f"n{i}" for i in range(30)], fresh, pack_id=PACK)
    matcher.add(SITE, "s3", vectors[3], pack_id=PACK)
    assert matcher.size(SITE) == 61
    assert matcher.search(SITE, vectors[3], k=1, pack_id=PACK)[0].subject_id == "s3"
    assert matcher.search(SITE, fresh[7], k=1, pack_id=PACK)[0].subject_id == "n7"


def test_remove_everyone_then_search_is_empty(matcher: Matcher) -> None:
    vectors = _enroll(matcher, 5)
    for i in range(5):
        matcher.remove(SITE, f"s{i}")
    assert matcher.search(SITE, vectors[0], k=3, pack_id=PACK) == []


def test_verify_scores_the_claimed_identity(matcher: Matcher) -> None:
    vectors = _enroll(matcher, 20)
    probe = _near(vectors[4], 3)
    assert matcher.verify(SITE, "s4", probe, pack_id=PACK) == pytest.approx(
        float(vectors[4] @ probe), abs=1e-5
    )
    assert matcher.verify(SITE, "s5", probe, pack_id=PACK) < 0.3
    hits = matcher.verify_many(SITE, ["s5", "s4", "nobody"], probe, pack_id=PACK)
    assert [h.subject_id for h in hits] == ["s4", "s5"]


def test_cohorts_are_separate() -> None:
    m = Matcher(PACK)
    v = _units(2, 1)
    m.add("north", "alice", v[0], pack_id=PACK)
    m.add("south", "bob", v[1], pack_id=PACK)
    assert [h.subject_id for h in m.search("north", v[1], k=5, pack_id=PACK)] == ["alice"]
    assert m.cohorts() == ["north", "south"]
    assert m.drop_cohort("north")
    with pytest.raises(UnknownCohortError):
        m.search("north", v[0], pack_id=PACK)
    m.create_cohort("empty")
    assert m.search("empty", v[0], pack_id=PACK) == []


def test_other_pack_is_refused_naming_both_packs() -> None:
    m = Matcher(PACK)
    with pytest.raises(PackMismatchError) as info:
        m.add(SITE, "alice", _units(1, 1)[0], pack_id="w600k_r50-other")
    assert "w600k_r50-other" in str(info.value)
    assert PACK in str(info.value)
    assert m.size(SITE) == 0
    m.add(SITE, "alice", _units(1, 1)[0], pack_id=PACK)
    with pytest.raises(PackMismatchError):
        m.search(SITE, _units(1, 1)[0], pack_id="w600k_r50-other")
    with pytest.raises(PackMismatchError):
        m.verify(SITE, "alice", _units(1, 1)[0], pack_id="w600k_r50-other")


@pytest.mark.parametrize(
    "bad",
    [np.zeros(512), np.full(512, np.nan), np.ones(128), np.ones((2, 512)), "text"],
    ids=["zero", "nan", "short", "two-rows", "text"],
)
def test_bad_vectors_change_nothing(bad: object) -> None:
    m = Matcher(PACK)
    m.add(SITE, "alice", _units(1, 1)[0], pack_id=PACK)
    with pytest.raises(MatcherError):
        m.add(SITE, "bob", bad, pack_id=PACK)  # type: ignore[arg-type]
    assert m.size(SITE) == 1
    with pytest.raises(InvalidVectorError):
        m.search(SITE, bad, pack_id=PACK)  # type: ignore[arg-type]


def test_bad_calls_are_refused() -> None:
    m = Matcher(PACK)
    v = _units(2, 1)
    with pytest.raises(MatcherError):
        m.add_many(SITE, ["a", "a"], v, pack_id=PACK)
    with pytest.raises(MatcherError):
        m.add_many(SITE, ["a"], v, pack_id=PACK)
    with pytest.raises(MatcherError):
        m.add(SITE, "", v[0], pack_id=PACK)
    with pytest.raises(MatcherError):
        m.add("", "a", v[0], pack_id=PACK)
    assert m.size(SITE) == 0
    m.add(SITE, "a", v[0], pack_id=PACK)
    with pytest.raises(MatcherError):
        m.search(SITE, v[0], k=0, pack_id=PACK)
    assert issubclass(MatcherError, BiometricsError)


def test_cohort_moves_to_hnsw_and_back_as_it_grows_and_shrinks() -> None:
    m = Matcher(PACK, hnsw_threshold=100)
    vectors = _enroll(m, 99)
    assert m.stats(SITE).backend == "exact"
    m.add(SITE, "extra", _units(1, 3)[0], pack_id=PACK)
    assert m.stats(SITE).backend == "hnsw"
    for i in range(60):
        m.remove(SITE, f"s{i}")
    assert m.stats(SITE).backend == "exact"
    assert m.size(SITE) == 40
    assert m.search(SITE, vectors[70], k=1, pack_id=PACK)[0].subject_id == "s70"


def test_concurrent_searches_and_writes_stay_consistent(matcher: Matcher) -> None:
    vectors = _enroll(matcher, 300)
    errors: list[str] = []
    removed = set(range(0, 300, 3))

    def writer() -> None:
        for i in sorted(removed):
            matcher.remove(SITE, f"s{i}")
        matcher.add_many(SITE, [f"x{i}" for i in range(50)], _units(50, 42), pack_id=PACK)

    def reader(offset: int) -> None:
        for i in range(offset, 300, 7):
            if i in removed:
                continue
            hits = matcher.search(SITE, vectors[i], k=3, pack_id=PACK)
            if not hits or hits[0].subject_id != f"s{i}":
                errors.append(f"s{i} -> {hits[:1]}")

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader, args=(o,)) for o in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert matcher.size(SITE) == 300 - len(removed) + 50
    for i in removed:
        assert all(
            h.subject_id != f"s{i}" for h in matcher.search(SITE, vectors[i], k=10, pack_id=PACK)
        )


def test_memory_estimate_grows_with_size() -> None:
    m = Matcher(PACK, hnsw_threshold=2)
    _enroll(m, 1000)
    per_template = m.stats(SITE).memory_bytes / 1000
    assert 2048 < per_template < 8000


def test_hnsw_k_beyond_ef_and_heavy_deletion_still_return_live_subjects() -> None:
    from biometrics.matcher_hnsw import HnswIndex, HnswParams

    index = HnswIndex(512, HnswParams(ef_search=16))
    vectors = _units(400, 21)
    index.upsert([f"s{i}" for i in range(400)], vectors)
    hits = index.search(vectors[0], 200)
    assert len(hits) == 200
    assert hits[0][0] == "s0"
    for i in range(1, 390):
        index.remove(f"s{i}")
    live = {"s0", *(f"s{i}" for i in range(390, 400))}
    hits = index.search(vectors[395], 11)
    assert {h[0] for h in hits} == live
    assert hits[0][0] == "s395"
    # The exact fallback used when the graph cannot supply k live results agrees.
    assert [h[0] for h in index._scan(vectors[395], 11)] == [h[0] for h in hits]


def test_hnsw_searches_wider_for_impostor_like_answers_and_restores_ef() -> None:
    from biometrics.matcher_hnsw import HnswIndex, HnswParams

    index = HnswIndex(512, HnswParams(ef_search=8, escalate_below=0.5))
    vectors = _units(500, 31)
    index.upsert([f"s{i}" for i in range(500)], vectors)
    stranger = _units(1, 999)[0]
    hits = index.search(stranger, 3)
    exact = sorted(
        ((f"s{i}", float(v @ stranger)) for i, v in enumerate(vectors)), key=lambda h: -h[1]
    )
    assert hits[0][0] == exact[0][0]  # found by the wider search (ef 8 -> 32 -> 128)
    assert index._index.ef == 8
    assert index.search(_near(vectors[7], 1, noise=0.1), 1)[0][0] == "s7"

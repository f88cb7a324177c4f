"""Acceptance 1 on real photos: enroll from camera-like captures, identify from others.

Every face of players.jpg (22 people, including spectators 13-21 px wide) is
enrolled from three simulated cabinet captures and searched with two other
captures; faces of other photos are never enrolled and must be denied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from biometrics.calibration import CalibrationTable, default_table, score_distributions
from biometrics.engine import FaceEngine
from biometrics.face_samples import SampleSet, SourceFace, augmented_samples, load_source_faces
from biometrics.matcher import Matcher
from biometrics.policy import Outcome, Reason, decide
from biometrics.synthetic import SimilaritySpread, SyntheticFaces

SITE = "store-1"
# A cabinet's quality gate turns away faces this small (inter-ocular ~8 px);
# they must still be found at rank 1, but need not clear the threshold.
MIN_QUALITY_FACE_PX = 30.0


@dataclass(frozen=True)
class Gallery:
    matcher: Matcher
    players: list[SourceFace]
    enrolled: SampleSet
    probes: SampleSet
    others: SampleSet  # never enrolled
    yao: SampleSet  # yaoming.jpg: a different photo of an enrolled player
    table: CalibrationTable
    face_width: dict[str, float]  # identity -> width of its face in the source photo


@pytest.fixture(scope="module")
def gallery(engine: FaceEngine) -> Gallery:
    players = load_source_faces(engine, photos=("players.jpg",))
    enrolled = augmented_samples(engine, players, per_face=3, seed=101)
    probes = augmented_samples(engine, players, per_face=2, seed=202)
    other_sources = load_source_faces(engine, photos=("t1.jpg", "gdp.jpg", "Tom_Hanks_54745.png"))
    others = augmented_samples(engine, other_sources, per_face=2, seed=303)
    yao = augmented_samples(
        engine, load_source_faces(engine, photos=("players.jpg", "yaoming.jpg"))[-1:], 2, 404
    )
    matcher = Matcher(engine.pack_id)
    ids = np.asarray(enrolled.identities)
    for identity in dict.fromkeys(enrolled.identities):
        template = enrolled.embeddings[ids == identity].mean(axis=0)
        matcher.add(SITE, identity, template, pack_id=engine.pack_id)
    widths = {s.identity: s.face.width for s in [*other_sources, *players]}
    table = default_table(engine.pack_id)
    return Gallery(matcher, players, enrolled, probes, others, yao, table, widths)


def test_players_photo_has_22_people(gallery: Gallery) -> None:
    assert len(gallery.players) == 22
    assert len({p.identity for p in gallery.players}) == 22
    assert gallery.matcher.size(SITE) == 22


def test_every_player_is_identified_at_rank_one(gallery: Gallery, engine: FaceEngine) -> None:
    misses = []
    for identity, probe in zip(gallery.probes.identities, gallery.probes.embeddings, strict=True):
        top = gallery.matcher.search(SITE, probe, k=2, pack_id=engine.pack_id)
        if top[0].subject_id != identity:
            misses.append((identity, top))
    assert misses == []
    assert len(gallery.probes.identities) == 44


def test_players_of_usable_size_are_approved(gallery: Gallery, engine: FaceEngine) -> None:
    outcomes: dict[str, list[str]] = {}
    for identity, probe in zip(gallery.probes.identities, gallery.probes.embeddings, strict=True):
        if gallery.face_width[identity] < MIN_QUALITY_FACE_PX:
            continue
        top = gallery.matcher.search(SITE, probe, k=2, pack_id=engine.pack_id)
        d = decide(top, gallery.matcher.size(SITE), gallery.table)
        outcomes.setdefault(d.outcome.value, []).append(identity)
        if d.outcome is Outcome.APPROVE:
            assert d.subject_id == identity
    assert set(outcomes) == {"approve"}, outcomes
    assert len(outcomes["approve"]) >= 30


def test_faces_not_enrolled_are_denied(gallery: Gallery, engine: FaceEngine) -> None:
    assert len(set(gallery.others.identities)) >= 10
    for probe in gallery.others.embeddings:
        top = gallery.matcher.search(SITE, probe, k=2, pack_id=engine.pack_id)
        d = decide(top, gallery.matcher.size(SITE), gallery.table)
        assert d.outcome is Outcome.DENY
        assert d.reasons == (Reason.BELOW_THRESHOLD,)


def test_another_photo_of_an_enrolled_player_finds_him(
    gallery: Gallery, engine: FaceEngine
) -> None:
    yao_identity = gallery.yao.identities[0]
    assert yao_identity.startswith("players.jpg#")  # yaoming.jpg is labelled as the player
    for probe in gallery.yao.embeddings:
        top = gallery.matcher.search(SITE, probe, k=2, pack_id=engine.pack_id)
        assert top[0].subject_id == yao_identity
        assert top[0].score > top[1].score + 0.1


def test_two_different_people_never_match_at_the_default_threshold(gallery: Gallery) -> None:
    sets = (gallery.enrolled, gallery.probes, gallery.others)
    labels = [i for s in sets for i in s.identities]
    rows = np.concatenate([s.embeddings for s in sets])
    _, impostor = score_distributions(labels, rows)
    assert impostor.size > 8_000
    assert impostor.max() < gallery.table.default_threshold


def _spread(identities: list[str], rows: npt.NDArray[np.float32]) -> SimilaritySpread:
    genuine, impostor = score_distributions(identities, rows)
    return SimilaritySpread(
        float(genuine.mean()), float(genuine.std()), float(impostor.mean()), float(impostor.std())
    )


def test_synthetic_identities_have_the_real_similarity_spread(gallery: Gallery) -> None:
    """The matcher's synthetic galleries must be as hard as real faces, not random directions."""
    # Same recipe as the shipped table: faces a cabinet would accept, and Yao
    # Ming's second photo as the one cross-photo genuine pair.
    big = [
        (i, e)
        for s in (gallery.enrolled, gallery.probes, gallery.others, gallery.yao)
        for i, e in zip(s.identities, s.embeddings, strict=True)
        if gallery.face_width[i] >= MIN_QUALITY_FACE_PX
    ]
    real = _spread([i for i, _ in big], np.stack([e for _, e in big]))
    synthetic = SyntheticFaces(SimilaritySpread.from_table(gallery.table), seed=1).measure(
        300, 4, seed=2
    )
    assert synthetic.impostor_mean == pytest.approx(real.impostor_mean, abs=0.03)
    assert synthetic.impostor_std == pytest.approx(real.impostor_std, rel=0.3)
    assert synthetic.genuine_mean == pytest.approx(real.genuine_mean, abs=0.05)
    assert synthetic.genuine_std == pytest.approx(real.genuine_std, rel=0.6)
    # Random directions would have an impostor spread of 1/sqrt(512) ~ 0.044.
    assert synthetic.impostor_std > 1.5 / np.sqrt(512)

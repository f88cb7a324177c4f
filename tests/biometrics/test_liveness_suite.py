from __future__ import annotations

import pytest

from biometrics.attacks.sources import source_faces
from biometrics.attacks.suite import ATTACK_TYPES, GENUINE, OUT_OF_SCOPE, run_suite, suite_report
from biometrics.engine import FaceEngine


@pytest.fixture(scope="module")
def report(engine: FaceEngine) -> dict[str, dict]:  # type: ignore[type-arg]
    sources = source_faces(engine, mirrored=False)
    chosen = [s for s in sources if s.name in ("t1-0", "yaoming-0", "gdp-1")]
    assert len(chosen) == 3
    results = run_suite(engine, chosen, seed=1)
    assert sum(r.kind == GENUINE for r in results) == 3
    assert len(results) == 3 * (1 + len(ATTACK_TYPES))
    return suite_report(results)


def test_source_faces_come_from_shipped_photos(engine: FaceEngine) -> None:
    sources = source_faces(engine, mirrored=False)
    assert len(sources) >= 5
    assert all(s.frame.shape == (480, 640, 3) for s in sources)


def test_depth_evidence_stops_prints_and_screens(report: dict[str, dict]) -> None:  # type: ignore[type-arg]
    depth = report["depth"]
    assert set(depth["apcer"]) == set(ATTACK_TYPES)
    assert all(rate == 0.0 for rate in depth["apcer"].values())
    assert depth["bpcer"] == 0.0


def test_depth_and_motion_together(report: dict[str, dict]) -> None:  # type: ignore[type-arg]
    both = report["depth+motion"]
    assert all(rate == 0.0 for rate in both["apcer"].values())
    assert both["bpcer"] == 0.0


def test_motion_alone_catches_turned_prints_and_screens(report: dict[str, dict]) -> None:  # type: ignore[type-arg]
    motion = report["motion"]
    assert motion["attack_counts"] == dict.fromkeys(sorted(ATTACK_TYPES), 3)
    # 0 in the benchmark's 12-source run; one slip in three is tolerated here
    # because landmark numerics differ slightly between CPUs
    in_scope = {k: v for k, v in motion["apcer"].items() if k not in OUT_OF_SCOPE["motion"]}
    assert all(rate <= 1 / 3 for rate in in_scope.values())
    assert motion["bpcer"] <= 1 / 3


def test_a_replayed_video_of_a_head_turn_fools_motion_but_not_depth(
    report: dict[str, dict],
) -> None:  # type: ignore[type-arg]
    assert report["motion"]["apcer"]["screen_video"] > 0.5  # the known limit of parallax
    assert report["depth"]["apcer"]["screen_video"] == 0.0
    assert report["depth+motion"]["apcer"]["screen_video"] == 0.0

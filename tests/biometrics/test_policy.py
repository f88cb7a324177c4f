from __future__ import annotations

import json

import numpy as np
import pytest

from biometrics.calibration import CalibrationTable, build_table, default_table
from biometrics.matcher import Candidate
from biometrics.model_pack import inspect_pack
from biometrics.policy import (
    Decision,
    Outcome,
    PolicyConfig,
    PolicyError,
    Reason,
    decide,
    default_threshold,
)


@pytest.fixture(scope="module")
def table() -> CalibrationTable:
    """A table with a known shape: impostors around 0.0, genuine around 0.8."""
    rng = np.random.default_rng(3)
    impostor = rng.normal(0.0, 0.1, 50_000).astype(np.float32)
    genuine = np.clip(rng.normal(0.8, 0.08, 2_000), -1, 1).astype(np.float32)
    return build_table(genuine, impostor, "pack-x", identities=100)


def _c(*pairs: tuple[str, float]) -> list[Candidate]:
    return [Candidate(s, score) for s, score in pairs]


def test_clear_match_in_a_small_gallery_is_approved(table: CalibrationTable) -> None:
    d = decide(_c(("alice", 0.82), ("bob", 0.21)), 50, table)
    assert d.outcome is Outcome.APPROVE
    assert d.subject_id == "alice"
    assert d.reasons == (
        Reason.ABOVE_THRESHOLD,
        Reason.FALSE_MATCH_RISK_OK,
        Reason.CLEAR_MARGIN,
    )
    assert d.threshold == table.default_threshold
    assert d.expected_false_matches == pytest.approx(50 * table.fmr_at(d.threshold))


def test_below_threshold_is_denied(table: CalibrationTable) -> None:
    d = decide(_c(("alice", table.default_threshold - 0.01)), 50, table)
    assert d.outcome is Outcome.DENY
    assert d.subject_id is None
    assert d.reasons == (Reason.BELOW_THRESHOLD,)


def test_empty_gallery_is_denied(table: CalibrationTable) -> None:
    d = decide([], 0, table)
    assert d.outcome is Outcome.DENY
    assert d.reasons == (Reason.EMPTY_GALLERY,)
    assert d.score is None


def test_large_gallery_asks_for_step_up(table: CalibrationTable) -> None:
    fmr = table.fmr_at(table.default_threshold)
    budget = PolicyConfig().max_expected_false_matches
    too_many = int(budget / fmr) + 10
    d = decide(_c(("alice", 0.9), ("bob", 0.2)), too_many, table)
    assert d.outcome is Outcome.STEP_UP
    assert d.subject_id is None
    assert Reason.FALSE_MATCH_RISK_TOO_HIGH in d.reasons
    assert d.expected_false_matches > budget
    just_enough = int(budget / fmr) - 1
    assert decide(_c(("alice", 0.9), ("bob", 0.2)), just_enough, table).outcome is Outcome.APPROVE


def test_small_margin_asks_for_step_up(table: CalibrationTable) -> None:
    d = decide(_c(("alice", 0.80), ("bob", 0.76)), 20, table)
    assert d.outcome is Outcome.STEP_UP
    assert d.margin == pytest.approx(0.04)
    assert Reason.AMBIGUOUS_MARGIN in d.reasons
    assert Reason.FALSE_MATCH_RISK_OK in d.reasons


def test_after_step_up_the_narrowed_gallery_decides(table: CalibrationTable) -> None:
    # The phone's last four digits leave two people: the look-alike is gone.
    first = decide(_c(("alice", 0.80), ("bob", 0.78)), 20_000_000, table)
    assert first.outcome is Outcome.STEP_UP
    second = decide(_c(("alice", 0.80), ("carol", 0.1)), 2, table, step_up_available=False)
    assert second.outcome is Outcome.APPROVE
    assert second.subject_id == "alice"


def test_step_up_needed_again_after_step_up_is_a_deny(table: CalibrationTable) -> None:
    d = decide(_c(("alice", 0.80), ("bob", 0.78)), 2, table, step_up_available=False)
    assert d.outcome is Outcome.DENY
    assert d.reasons[-1] is Reason.STEP_UP_EXHAUSTED
    assert Reason.AMBIGUOUS_MARGIN in d.reasons


def test_candidates_are_ranked_by_score_whatever_the_input_order(
    table: CalibrationTable,
) -> None:
    d = decide(_c(("bob", 0.1), ("alice", 0.85)), 10, table)
    assert d.subject_id == "alice"
    assert d.margin == pytest.approx(0.75)


def test_configured_threshold_overrides_the_table(table: CalibrationTable) -> None:
    cfg = PolicyConfig(threshold=0.9)
    d = decide(_c(("alice", 0.85)), 10, table, cfg)
    assert d.outcome is Outcome.DENY
    assert d.threshold == 0.9


def test_decision_is_machine_readable(table: CalibrationTable) -> None:
    d: Decision = decide(_c(("alice", 0.82), ("bob", 0.21)), 50, table)
    payload = json.loads(json.dumps(d.as_dict()))
    assert payload["outcome"] == "approve"
    assert payload["reasons"] == ["above_threshold", "false_match_risk_ok", "clear_margin"]
    assert payload["subject_id"] == "alice"


def test_inconsistent_input_is_refused(table: CalibrationTable) -> None:
    with pytest.raises(PolicyError):
        decide(_c(("a", 0.9), ("b", 0.1)), 1, table)
    with pytest.raises(PolicyError):
        decide(_c(("a", 0.9), ("a", 0.8)), 5, table)
    with pytest.raises(PolicyError):
        PolicyConfig(max_expected_false_matches=0)
    with pytest.raises(PolicyError):
        PolicyConfig(threshold=1.5)
    with pytest.raises(PolicyError):
        PolicyConfig(min_margin=-0.1)


def test_default_threshold_of_the_default_pack_comes_from_the_shipped_table() -> None:
    pack_id = inspect_pack().pack_id
    shipped = default_table(pack_id)
    threshold = default_threshold(pack_id)
    assert threshold == shipped.default_threshold
    assert shipped.fmr_at(threshold) <= shipped.target_fmr
    assert threshold > shipped.impostor.max
    assert 0.2 < threshold < 0.8

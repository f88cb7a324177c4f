"""The cold-chain rule on its own."""

from __future__ import annotations

from cabinet_runtime.session_guards import ColdChainWatch


def test_cold_chain_needs_thirty_unbroken_minutes_above_the_limit() -> None:
    watch = ColdChainWatch(limit_c=5.0, duration_s=1800)
    assert watch.update(5.0, 0) is None  # at the limit is fine
    assert watch.update(5.1, 10) is None
    assert watch.update(None, 900) is None  # a failed probe does not break the run
    assert watch.update(7.0, 1809) is None
    reason = watch.update(7.0, 1810)
    assert reason is not None
    assert "30 min" in reason
    assert watch.update(4.0, 1811) is None  # cold again: the clock restarts
    assert watch.update(6.0, 1812) is None
    assert watch.update(6.0, 3611) is None
    assert watch.update(6.0, 3612) is not None
    watch.reset()
    assert watch.update(6.0, 3613) is None

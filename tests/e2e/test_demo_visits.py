"""How the demo watches a visit: it must see a refusal however quick it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from cabinet_runtime.session_model import SessionState
from facepay_demo import visits
from facepay_demo.visits import Visit, _decide


@dataclass
class _Lock:
    unlocked_at: list[float] = field(default_factory=list)


@dataclass
class _Machine:
    state: SessionState = SessionState.IDLE
    last_session_id: str | None = None


@dataclass
class _QuickRefusal:
    """A cabinet whose server refuses at once: the session starts and ends inside one
    step of the event loop, as it can on a busy machine between two looks."""

    lock: _Lock = field(default_factory=_Lock)
    machine: _Machine = field(default_factory=_Machine)
    started: int = 0

    @property
    def runtime(self) -> Any:
        return self

    @property
    def state(self) -> SessionState:
        return self.machine.state

    async def show(self, frames: Any) -> None:
        if frames:
            self.started += 1
            self.machine.state = SessionState.IDENTIFYING
            self.machine.last_session_id = f"s-{self.started}"
            self.machine.state = SessionState.IDLE  # denied before anyone looked


async def test_a_refusal_quicker_than_a_look_is_still_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(visits, "DECISION_TIMEOUT_S", 1.0)
    rig = _QuickRefusal()
    visit = Visit("unknown face", "nobody", "face", frames=["a frame"])  # type: ignore[list-item]
    approved, step_up, session_id = await _decide(rig, visit)  # type: ignore[arg-type]
    assert (approved, step_up, session_id) == (False, False, "s-1")


def test_a_failing_demo_ends_with_one_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from facepay.cli import main
    from facepay_demo import main as demo

    async def broken(*_: object) -> object:
        raise TimeoutError("timed out waiting for identification")

    monkeypatch.setattr(demo, "run_demo", broken)
    assert main(["demo", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["facepay demo: could not finish: timed out waiting for identification."]


def test_the_qr_token_is_issued_when_the_qr_visit_comes(faces: dict[str, Any]) -> None:
    """A QR token is valid for 30 seconds: issued when the script starts, it expired on a
    busy machine before the QR visit, and the retry showed the same (ignored) token."""
    from facepay_demo.script import visits as script
    from facepay_demo.shop import DemoCustomer

    issued: list[str] = []

    class Tokens:
        def issue(self, customer_id: str) -> str:
            issued.append(customer_id)
            return f"FPQ1.token-for-{customer_id}"

    people = {role: DemoCustomer(role, f"id-{role}", "+821012345678") for role in ("jisoo", "yao")}
    upcoming = script(Tokens(), faces, people)  # type: ignore[arg-type]
    assert next(upcoming).visit.auth == "face" and issued == []
    assert next(upcoming).visit.auth == "qr" and issued == ["id-jisoo"]

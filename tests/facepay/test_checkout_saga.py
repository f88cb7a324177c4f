"""The checkout saga without a server: every state, every allowed and refused move,
expiry, step-up across nodes, and a crash at every transition followed by recovery."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product
from pathlib import Path

import pytest
from checkout_rig import HOLD, PRICE, CheckoutRig, kinds, outcome
from sqlalchemy import func, select

from cabinet_runtime.protocol import Ack, ErrorReply, IdentifyResult
from facepay.checkout.models import PurchaseSession, PurchaseTransition, Receipt, StepUpChallenge
from facepay.checkout.states import (
    FINAL,
    TRANSITIONS,
    IllegalTransitionError,
    PurchaseState,
    allowed,
    move,
)
from facepay.notifications import OutboxMessage
from payments.ledger.verify import verify_ledger


class SimulatedCrash(BaseException):
    """The process dies: not an Exception, so no handler on the way catches it."""


@pytest.fixture
def rig(tmp_path: Path, database_url: str) -> Iterator[CheckoutRig]:
    keys = tmp_path / "keys"
    keys.mkdir()
    rig = CheckoutRig(database_url, keys)
    yield rig
    rig.close()


def _approved_visit(rig: CheckoutRig) -> None:
    rig.give_card()
    rig.identifier.answers.append(outcome("approve", rig.customer_id))
    replies = rig.send(rig.identify())
    assert kinds(replies) == ["IdentifyResult", "SignedCommand", "Ack"]


# -- the table ----------------------------------------------------------------------------


def test_every_state_has_a_row_and_final_states_lead_nowhere() -> None:
    assert set(TRANSITIONS) == set(PurchaseState)
    assert {PurchaseState.SETTLED, PurchaseState.DENIED} == FINAL


@pytest.fixture(scope="module")
def table_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CheckoutRig]:
    """One database for the 81 pairs: each test works on a purchase of its own."""
    base = tmp_path_factory.mktemp("table")
    (base / "keys").mkdir()
    rig = CheckoutRig(f"sqlite:///{base / 'table.db'}", base / "keys")
    yield rig
    rig.close()


@pytest.mark.parametrize(("source", "target"), list(product(PurchaseState, PurchaseState)))
def test_move_allows_exactly_the_table(
    table_rig: CheckoutRig, source: PurchaseState, target: PurchaseState
) -> None:
    rig = table_rig
    with rig.sessions.begin() as session:
        purchase = PurchaseSession(
            cabinet_id=rig.cabinet_id,
            cabinet_session_id=f"{source}-{target}",
            auth_method="face",
            state=source,
            currency="KRW",
        )
        session.add(purchase)
    with rig.sessions() as session:
        purchase = session.get(PurchaseSession, purchase.id)
        assert purchase is not None
        if allowed(source, target):
            move(session, purchase, target, reason="test", at=rig.clock(), limits={})
            session.commit()
            assert rig.purchase(f"{source}-{target}").state == target
            return
        with pytest.raises(IllegalTransitionError):
            move(session, purchase, target, reason="test", at=rig.clock(), limits={})
        session.rollback()
    assert rig.purchase(f"{source}-{target}").state == source
    with rig.sessions() as session:
        refused = rig.purchase(f"{source}-{target}").id
        assert not session.scalar(
            select(func.count())
            .select_from(PurchaseTransition)
            .where(PurchaseTransition.purchase_id == refused)
        )


# -- paths through the machine ------------------------------------------------------------


def test_face_purchase_is_held_unlocked_closed_and_settled(rig: CheckoutRig) -> None:
    _approved_visit(rig)
    assert rig.state() is PurchaseState.UNLOCKED
    assert rig.processor.open_holds() and rig.purchase().hold_amount == HOLD
    replies = rig.send(rig.closed(colas=2))
    assert kinds(replies) == ["SessionSettled", "Ack"]
    purchase = rig.purchase()
    assert purchase.state == PurchaseState.SETTLED
    assert purchase.captured_amount == 2 * PRICE and purchase.debt_amount == 0
    assert rig.processor.captured_total() == 2 * PRICE and not rig.processor.open_holds()
    assert rig.states() == ["identifying", "authorizing", "unlocked", "closed", "settled"]
    assert verify_ledger(rig.payments_engine).ok


def test_nothing_taken_voids_the_hold(rig: CheckoutRig) -> None:
    _approved_visit(rig)
    rig.send(rig.closed(colas=0))
    assert rig.state() is PurchaseState.SETTLED
    assert rig.processor.captured_total() == 0 and not rig.processor.open_holds()


def test_unknown_face_is_denied_before_any_hold(rig: CheckoutRig) -> None:
    rig.give_card()
    rig.identifier.answers.append(outcome("deny"))
    replies = rig.send(rig.identify())
    assert isinstance(replies[0], IdentifyResult) and replies[0].decision == "deny"
    assert rig.state() is PurchaseState.DENIED and rig.processor.holds == {}
    assert rig.states() == ["identifying", "denied"]


def test_customer_without_a_card_is_denied_after_identification(rig: CheckoutRig) -> None:
    rig.identifier.answers.append(outcome("approve", rig.customer_id))
    replies = rig.send(rig.identify())
    assert isinstance(replies[0], IdentifyResult) and "No card" in replies[0].reason
    assert rig.states() == ["identifying", "authorizing", "denied"]


def test_declined_hold_denies_and_remembers_the_authorization(rig: CheckoutRig) -> None:
    rig.give_card()
    rig.processor.limit = HOLD - 1
    rig.identifier.answers.append(outcome("approve", rig.customer_id))
    replies = rig.send(rig.identify())
    assert isinstance(replies[0], IdentifyResult) and "declined" in replies[0].reason
    assert rig.state() is PurchaseState.DENIED and rig.purchase().authorization_ref


def test_basket_the_catalogue_does_not_know_goes_to_review_uncharged(rig: CheckoutRig) -> None:
    _approved_visit(rig)
    replies = rig.send(rig.closed(sku="caviar"))
    error = replies[0]
    assert isinstance(error, ErrorReply) and error.code == "basket_rejected"
    assert "caviar" in error.detail and isinstance(replies[-1], Ack)
    purchase = rig.purchase()
    assert purchase.state == PurchaseState.IN_REVIEW and "caviar" in (purchase.review_reason or "")
    assert rig.processor.captured_total() == 0
    # Review not resolved in time: the hold is voided, never left open.
    rig.clock.advance(seconds=rig.limits.in_review.total_seconds() + 1)
    assert rig.checkout.expiry.expire_overdue() == 1
    assert rig.state() is PurchaseState.EXPIRED and not rig.processor.open_holds()


def test_a_resent_identify_gets_the_same_answer_and_one_hold(rig: CheckoutRig) -> None:
    _approved_visit(rig)
    replies = rig.send(rig.identify())
    assert kinds(replies) == ["IdentifyResult", "SignedCommand", "Ack"]
    assert len(rig.processor.holds) == 1


def test_a_duplicate_close_charges_once(rig: CheckoutRig) -> None:
    _approved_visit(rig)
    close = rig.closed(colas=3)
    rig.send(close)
    assert kinds(rig.send(close)) == ["Ack"]
    assert rig.processor.captured_total() == 3 * PRICE
    with rig.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Receipt)) == 1


# -- step-up -------------------------------------------------------------------------------


def test_step_up_answered_through_another_node(rig: CheckoutRig) -> None:
    rig.give_card()
    rig.identifier.answers.append(outcome("step_up"))
    replies = rig.send(rig.identify())
    assert isinstance(replies[0], IdentifyResult) and replies[0].decision == "step_up"
    with rig.sessions() as session:
        challenge = session.get(StepUpChallenge, rig.purchase().id)
        assert challenge is not None
        assert rig.identify().embedding not in challenge.sealed_embedding  # sealed, not raw
    rig.restart()  # the digits arrive at another node: nothing in this process's memory
    rig.identifier.step_up_answers.append(outcome("approve", rig.customer_id))
    replies = rig.send(rig.digits())
    assert kinds(replies) == ["IdentifyResult", "SignedCommand", "Ack"]
    assert rig.states() == ["identifying", "step_up", "authorizing", "unlocked"]
    with rig.sessions() as session:
        assert session.get(StepUpChallenge, rig.purchase().id) is None  # taken once


def test_step_up_digits_after_the_challenge_expired_are_refused(rig: CheckoutRig) -> None:
    rig.identifier.answers.append(outcome("step_up"))
    rig.send(rig.identify())
    rig.clock.advance(minutes=5)
    replies = rig.send(rig.digits())
    assert isinstance(replies[0], IdentifyResult) and replies[0].decision == "deny"
    assert rig.state() is PurchaseState.DENIED


# -- expiry ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stuck_in", ["identifying", "step_up", "unlocked"])
def test_a_purchase_stuck_past_its_limit_expires_and_its_hold_is_voided(
    rig: CheckoutRig, stuck_in: str
) -> None:
    rig.give_card()
    if stuck_in == "identifying":
        rig.after_move = _crash_at(PurchaseState.IDENTIFYING)
        with pytest.raises(SimulatedCrash):
            rig.send(rig.identify())
        rig.after_move = lambda _p, _s: None
    elif stuck_in == "step_up":
        rig.identifier.answers.append(outcome("step_up"))
        rig.send(rig.identify())
    else:
        _approved_visit(rig)
    assert rig.state() == stuck_in
    rig.clock.advance(seconds=30)
    assert rig.checkout.expiry.expire_overdue() == 0  # not yet
    rig.clock.advance(hours=1)
    assert rig.checkout.expiry.expire_overdue() == 1
    purchase = rig.purchase()
    assert purchase.state == PurchaseState.EXPIRED and purchase.deadline_at is None
    assert not rig.processor.open_holds()
    told = rig.link.take(rig.cabinet_id)
    assert isinstance(told[0], IdentifyResult) and told[0].decision == "deny"
    if stuck_in == "unlocked":
        assert purchase.hold_released_at is not None
        with rig.sessions() as session:
            assert (
                session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.kind == "hold_released")
                )
                == 0
            )  # this test's customer has no verified phone to tell


def test_a_close_after_expiry_is_still_charged_once(rig: CheckoutRig) -> None:
    _approved_visit(rig)
    rig.clock.advance(hours=1)
    rig.checkout.expiry.expire_overdue()
    assert not rig.processor.open_holds()
    rig.send(rig.closed(colas=2))  # the cabinet's outbox delivers the close late
    purchase = rig.purchase()
    assert purchase.state == PurchaseState.SETTLED
    assert purchase.captured_amount == 2 * PRICE
    assert rig.processor.captured_total() == 2 * PRICE and not rig.processor.open_holds()
    assert rig.states()[-3:] == ["expired", "closed", "settled"]


# -- a crash at every transition ------------------------------------------------------------


def _crash_at(state: PurchaseState, *, times: int = 1) -> object:
    left = [times]

    def crash(_purchase_id: str, reached: PurchaseState) -> None:
        if reached is state and left[0] > 0:
            left[0] -= 1
            raise SimulatedCrash(state)

    return crash


CRASH_POINTS = [
    ("face", PurchaseState.IDENTIFYING),
    ("face", PurchaseState.AUTHORIZING),
    ("face", PurchaseState.UNLOCKED),
    ("face", PurchaseState.CLOSED),
    ("face", PurchaseState.SETTLED),
    ("step_up", PurchaseState.STEP_UP),
    ("step_up", PurchaseState.AUTHORIZING),
]


@pytest.mark.parametrize(("path", "crash_state"), CRASH_POINTS)
def test_crash_at_every_transition_then_recovery_charges_once(
    rig: CheckoutRig, path: str, crash_state: PurchaseState
) -> None:
    """The cabinet resends what was not acknowledged; the restarted server's recovery
    finishes the rest. Nothing is charged twice and no hold is left open."""
    rig.give_card()
    for _ in range(3):  # answers for the first try and the resends
        rig.identifier.answers.append(
            outcome("step_up" if path == "step_up" else "approve", rig.customer_id)
        )
        rig.identifier.step_up_answers.append(outcome("approve", rig.customer_id))
    rig.after_move = _crash_at(crash_state)  # type: ignore[assignment]
    script = [rig.identify(), *([rig.digits()] if path == "step_up" else []), rig.closed(colas=2)]
    for message in script:
        try:
            replies = rig.send(message)
        except SimulatedCrash:
            rig.after_move = lambda _p, _s: None
            rig.restart()
            replies = rig.send(message)  # unacknowledged, so the cabinet sends it again
            if crash_state is PurchaseState.STEP_UP:
                # The crash lost the step-up answer: the resent identify decides again.
                assert rig.state() in (PurchaseState.STEP_UP, PurchaseState.UNLOCKED)
        assert isinstance(replies[-1], Ack), replies  # handled, so acknowledged
    rig.checkout.closing.settle_unsettled()  # the recovery loop
    rig.checkout.inbox.connected(rig.cabinet_id)  # the cabinet reconnects: outbox resent
    purchase = rig.purchase()
    assert purchase.state == PurchaseState.SETTLED, rig.states()
    assert rig.processor.captured_total() == 2 * PRICE
    assert not rig.processor.open_holds()
    assert len(rig.processor.holds) == 1  # one hold, however often it was asked for
    assert verify_ledger(rig.payments_engine).ok
    assert any(type(m).__name__ == "SessionSettled" for m in rig.link.take(rig.cabinet_id))


def test_a_close_for_a_visit_that_never_unlocked_is_not_believed(rig: CheckoutRig) -> None:
    rig.identifier.answers.append(outcome("step_up"))
    rig.send(rig.identify())
    rig.clock.advance(hours=1)
    rig.checkout.expiry.expire_overdue()
    rig.link.take(rig.cabinet_id)  # the expiry's deny
    assert kinds(rig.send(rig.closed(colas=2))) == ["Ack"]
    assert rig.state() is PurchaseState.EXPIRED
    assert rig.processor.holds == {} and rig.checkout.closing.settle_unsettled() == 0


def test_crash_after_a_deny_leaves_nothing_open(rig: CheckoutRig) -> None:
    rig.give_card()
    rig.processor.limit = HOLD - 1  # the hold is declined: denied with an authorization
    rig.identifier.answers.append(outcome("approve", rig.customer_id))
    rig.after_move = _crash_at(PurchaseState.DENIED)  # type: ignore[assignment]
    with pytest.raises(SimulatedCrash):
        rig.send(rig.identify())
    rig.after_move = lambda _p, _s: None
    rig.restart()
    replies = rig.send(rig.identify())  # resent: the same answer, no second hold
    assert isinstance(replies[0], IdentifyResult) and replies[0].decision == "deny"
    assert len(rig.processor.holds) == 0 and rig.state() is PurchaseState.DENIED


def test_crash_after_review_then_the_review_limit_voids_the_hold(rig: CheckoutRig) -> None:
    _approved_visit(rig)
    rig.after_move = _crash_at(PurchaseState.IN_REVIEW)  # type: ignore[assignment]
    with pytest.raises(SimulatedCrash):
        rig.send(rig.closed(sku="caviar"))
    rig.after_move = lambda _p, _s: None
    rig.restart()
    assert isinstance(rig.send(rig.closed(sku="caviar"))[-1], Ack)  # resent: a duplicate
    assert rig.state() is PurchaseState.IN_REVIEW and rig.processor.captured_total() == 0
    rig.clock.advance(seconds=rig.limits.in_review.total_seconds() + 1)
    rig.checkout.expiry.expire_overdue()
    assert not rig.processor.open_holds() and rig.processor.captured_total() == 0


def test_crash_between_expiry_and_the_void_is_finished_next_round(rig: CheckoutRig) -> None:
    _approved_visit(rig)
    rig.clock.advance(hours=1)
    rig.after_move = _crash_at(PurchaseState.EXPIRED)  # type: ignore[assignment]
    with pytest.raises(SimulatedCrash):
        rig.checkout.expiry.expire_overdue()
    assert rig.state() is PurchaseState.EXPIRED and rig.processor.open_holds()
    rig.after_move = lambda _p, _s: None
    rig.restart()
    rig.checkout.expiry.expire_overdue()  # the recovery loop's next round
    assert not rig.processor.open_holds()
    assert rig.purchase().hold_released_at is not None

"""Enroll → identify → hold → unlock → picks → close → capture → receipt, for real."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from cabinet_client import authenticated
from conftest import World
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection

from biometrics.engine import FaceEngine
from cabinet_runtime import protocol as p
from cabinet_runtime.identification import encode_qr
from cabinet_runtime.identity import IdentityStore
from facepay.catalog.models import InventoryLevel
from facepay.checkout.charging import NO_CARD, OPEN_DEBT
from facepay.checkout.identify import MODEL_MISMATCH, NOT_RECOGNISED
from facepay.errors import FacePayError
from facepay.notifications import messages_to
from facepay_demo.visits import Pick, Visit, run_visit
from payments.authorizations.models import Operation
from payments.ledger.verify import verify_ledger


@contextlib.asynccontextmanager
async def as_the_cabinet(world: World) -> AsyncIterator[ClientConnection]:
    """A second, authenticated connection with the cabinet's own device key."""
    identity = IdentityStore(world.state_dir).load()
    url = world.server.ws_url + "/v1/cabinets/ws"
    async with authenticated(url, identity.cabinet_id, identity.sign_challenge) as ws:
        yield ws


def _face(world: World, role: str, seed: int = 1) -> Visit:
    return Visit(role, role, "face", world.faces[role].front_frames(4, seed=seed))


def _ledger_balanced(world: World) -> bool:
    return verify_ledger(world.services.payments.engine).ok


async def test_face_purchase_end_to_end(world: World) -> None:
    assert world.rig is not None
    visit = Visit(
        "two colas and a bar",
        "minji",
        "face",
        world.faces["minji"].front_frames(4, seed=3),
        [Pick("take", "top-1", 2), Pick("take", "bottom-1", 1)],
    )
    seen = await run_visit(world.rig, visit)
    assert seen.decision == "approve"
    purchase = world.purchase(seen.session_id)
    assert purchase.customer_id == world.people["minji"].customer_id
    assert purchase.state == "settled"
    assert world.basket(purchase.id) == {"cola-355": 2, "bar-choco": 1}
    assert purchase.captured_amount == 2 * 1500 + 2500  # above the 5,000 hold: incremented
    assert seen.message == "Paid 5500 KRW. Thank you!"
    [receipt_id] = world.receipts(purchase.id)
    page = httpx.get(f"{world.server.url}/r/{receipt_id}")
    assert page.status_code == 200
    assert "cola-355 × 2" in page.text
    assert "5500 KRW" in page.text
    assert httpx.get(f"{world.server.url}/r/not-a-receipt").status_code == 404
    with world.services.sessions() as session:
        stock = {
            level.lane_id: level.quantity
            for level in session.scalars(
                select(InventoryLevel).where(InventoryLevel.cabinet_id == world.shop.cabinet_id)
            )
        }
        sms = messages_to(session, world.people["minji"].phone, "receipt")
    assert stock["top-1"] == 8 - 2
    assert stock["bottom-1"] == 10 - 1
    assert len(sms) == 1
    assert receipt_id in sms[0].body
    assert _ledger_balanced(world)


async def test_qr_unlock(world: World) -> None:
    assert world.rig is not None
    token = world.services.customers.qr.issue(world.people["jisoo"].customer_id)
    visit = Visit("qr", "jisoo", "qr", [encode_qr(token, size_px=360)], [Pick("take", "top-2")])
    seen = await run_visit(world.rig, visit)
    assert seen.decision == "approve"
    purchase = world.purchase(seen.session_id)
    assert purchase.auth_method == "qr"
    assert purchase.customer_id == world.people["jisoo"].customer_id
    assert world.basket(purchase.id) == {"water-500": 1}
    assert purchase.captured_amount == 1000
    # The token was used once: the server refuses it from now on.
    with pytest.raises(FacePayError):
        world.services.customers.qr.redeem(token, world.shop.site_id)


async def test_step_up_tells_twins_apart(world: World) -> None:
    assert world.rig is not None
    twin = world.people["yao_twin"]
    visit = Visit(
        "twin",
        "yao_twin",
        "face",
        world.faces["yao_twin"].front_frames(4, seed=5),
        [Pick("take", "bottom-2")],
        digits=twin.last4,
    )
    seen = await run_visit(world.rig, visit)
    assert seen.step_up
    assert seen.decision == "approve"
    purchase = world.purchase(seen.session_id)
    assert purchase.customer_id == twin.customer_id
    assert world.basket(purchase.id) == {"kimbap": 1}


async def test_wrong_step_up_digits_are_denied(world: World) -> None:
    assert world.rig is not None
    visit = Visit("twin", "yao", "face", world.faces["yao"].front_frames(4, seed=6), digits="0000")
    seen = await run_visit(world.rig, visit)
    assert seen.step_up
    assert seen.decision == "deny"
    assert world.purchase(seen.session_id).customer_id is None


async def test_denials_say_why(world: World) -> None:
    assert world.rig is not None
    stranger = await run_visit(world.rig, _face(world, "stranger"))
    assert stranger.decision == "deny"
    assert stranger.message == NOT_RECOGNISED
    no_card = await run_visit(world.rig, _face(world, "seojun"))
    assert no_card.decision == "deny"
    assert no_card.message == NO_CARD
    assert world.purchase(no_card.session_id).state == "denied"
    # A capture that fails after goods were taken becomes a debt, which blocks the next visit.
    debt_visit = Visit(
        "over the limit",
        "hyunwoo",
        "face",
        world.faces["hyunwoo"].front_frames(4, seed=2),
        [Pick("take", "bottom-2", 2)],
    )
    charged = await run_visit(world.rig, debt_visit)
    assert charged.decision == "approve"
    assert world.purchase(charged.session_id).captured_amount == 5000
    blocked = await run_visit(world.rig, _face(world, "hyunwoo", seed=4))
    assert blocked.decision == "deny"
    assert blocked.message == OPEN_DEBT
    assert _ledger_balanced(world)


async def test_duplicate_session_closed_charges_once(world: World) -> None:
    assert world.rig is not None
    seen = await run_visit(
        world.rig,
        Visit(
            "one cola",
            "minji",
            "face",
            world.faces["minji"].front_frames(4, seed=8),
            [Pick("take", "top-1")],
        ),
    )
    purchase = world.purchase(seen.session_id)
    assert purchase.close_message_id is not None
    assert seen.session_id is not None
    duplicate = p.SessionClosed(
        id=purchase.close_message_id,
        session_id=seen.session_id,
        lines=(p.BasketLine(lane="top-1", sku="cola-355", qty=1, confidence=1.0),),
        review=False,
        totals=p.RecognisedTotals(items=1, weight_delta_g=-372.0),
    )
    # A second close for the same session, with a new id and a bigger basket.
    late = p.SessionClosed(
        session_id=seen.session_id,
        lines=(p.BasketLine(lane="top-1", sku="cola-355", qty=3, confidence=1.0),),
        review=False,
        totals=p.RecognisedTotals(items=3, weight_delta_g=-1116.0),
    )
    async with as_the_cabinet(world) as ws:
        for message in (duplicate, duplicate, late):
            await ws.send(p.encode(message))
        # What the server sends a cabinet reaches each of its connections, so this one
        # also hears the acks of the runtime's own messages (telemetry): wait for ours.
        acked: set[str] = set()
        while not {duplicate.id, late.id} <= acked:
            reply = p.decode_from_server(await asyncio.wait_for(ws.recv(), 10))
            if isinstance(reply, p.Ack):
                acked.add(reply.ack_id)
    assert {duplicate.id, late.id} <= acked
    after = world.purchase(seen.session_id)
    assert after.captured_amount == 1500
    assert world.basket(after.id) == {"cola-355": 1}
    assert len(world.receipts(after.id)) == 1
    with world.services.payments.engine.connect() as connection:
        captures = connection.execute(
            select(Operation.id).where(
                Operation.authorization_id == after.authorization_ref, Operation.kind == "capture"
            )
        ).all()
    assert len(captures) == 1
    assert _ledger_balanced(world)


async def test_an_embedding_of_another_model_pack_is_never_compared(
    world: World, engine: FaceEngine
) -> None:
    frame = world.faces["minji"].front_frames(1, seed=12)[0].image
    embedding = engine.embed(frame, engine.detect(frame)[:1])[0]
    evidence = {
        "embedding": p.pack_embedding([float(x) for x in embedding]),
        "quality": p.QualityReport(score=0.9, passed=True),
        "liveness": p.LivenessReport(score=1.0, passed=True, method="depth"),
    }
    same = p.Identify(session_id="pack-same", pack_id=engine.pack_id, **evidence)
    other = p.Identify(session_id="pack-other", pack_id="w600k_r50-0123456789abcdef", **evidence)
    answers = {}
    async with as_the_cabinet(world) as ws:
        for message in (other, same):
            await ws.send(p.encode(message))
        while len(answers) < 2:
            reply = p.decode_from_server(await asyncio.wait_for(ws.recv(), 10))
            if isinstance(reply, p.IdentifyResult):
                answers[reply.session_id] = reply
    assert answers["pack-other"].decision == "deny"
    assert answers["pack-other"].reason == MODEL_MISMATCH
    assert answers["pack-same"].decision == "approve"

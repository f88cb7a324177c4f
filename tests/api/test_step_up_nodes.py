"""A step-up started through one API node is answered through another (issue 10,
acceptance 2): two app instances on one PostgreSQL database, each under its own uvicorn.

The cabinet identifies through node A and is asked for the last four digits (the face is
one of two look-alikes: a photo and its mirror image), loses that connection, reconnects
to node B and types the digits there. Node B finds the stored challenge (the face sealed
in the database, not in node A's memory), approves, places one hold and sends an unlock
the cabinet verifies with the key it pinned at provisioning. No Redis: every reply goes
back over the connection the message came in on.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import numpy as np
import pytest
from cabinet_client import authenticated, signer, until
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection

from api.app import create_app
from biometrics.attacks.depth_maps import genuine_depth
from biometrics.engine import FaceEngine
from cabinet_runtime import protocol as p
from cabinet_runtime.commands import CommandVerifier
from cabinet_runtime.identification import FaceEvidence, FrontIdentifier
from facepay.bootstrap import Services
from facepay.cabinets.provisioning import GATEWAY_PATH
from facepay.checkout.models import PurchaseSession, StepUpChallenge
from facepay.checkout.states import PurchaseState
from facepay.db.engine import open_database
from facepay.db.migrate import upgrade
from facepay.keys.store import init_keys
from facepay.payment_services import SANDBOX_MOUNT
from facepay.processor_settings import ProcessorSettings, SandboxSettings
from facepay.settings import Settings
from facepay_demo.catalog import HOLD_AMOUNT
from facepay_demo.faces import DemoFace, demo_faces
from facepay_demo.rig import DEPTH_SIZE, HEAD, SENSOR
from facepay_demo.script import APPROVING_CARD
from facepay_demo.server import BackgroundServer, free_port
from facepay_demo.shop import DemoCustomer, open_shop, sign_up
from payments.authorizations.models import Authorization, AuthStatus

pytestmark = pytest.mark.postgres


@dataclass
class Nodes:
    a: BackgroundServer
    b: BackgroundServer

    @property
    def services(self) -> Services:
        """Node A's services: the database both nodes share."""
        services: Services = self.a.app.state.services
        return services


@pytest.fixture
def nodes(tmp_path: Path, postgres_url: str) -> Iterator[Nodes]:
    base = Settings(data_dir=tmp_path / "data", database_url=postgres_url, host="127.0.0.1")
    init_keys(base.keys_dir)
    with open_database(base.effective_database_url) as db:
        upgrade(db.engine)
    settings_a = msgspec.structs.replace(base, port=free_port())
    # One card network for both nodes, as in production: node A mounts the sandbox network
    # in-process; node B reaches that same network over HTTP.
    network = ProcessorSettings(
        sandbox=SandboxSettings(network_url=f"{settings_a.effective_public_url}{SANDBOX_MOUNT}")
    )
    settings_b = msgspec.structs.replace(base, port=free_port(), processors=network)
    servers = [BackgroundServer(create_app(s), s.port) for s in (settings_a, settings_b)]
    try:
        for server in servers:
            server.start()
        yield Nodes(*servers)
    finally:
        for server in servers:
            server.stop()
            server.app.state.services.close()


@dataclass(frozen=True)
class Cabinet:
    cabinet_id: str
    key: Ed25519PrivateKey
    server_key: Ed25519PublicKey  # pinned at provisioning


def _raw_key(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _provision(node: BackgroundServer, code: str) -> Cabinet:
    key = Ed25519PrivateKey.generate()
    answer = httpx.post(
        f"{node.url}{p.PROVISION_PATH}",
        content=msgspec.json.encode(p.ProvisionRequest(code=code, public_key=_raw_key(key))),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    provisioned = msgspec.json.decode(answer.content, type=p.ProvisionResponse)
    server_key = Ed25519PublicKey.from_public_bytes(provisioned.server_public_key)
    return Cabinet(provisioned.cabinet_id, key, server_key)


@contextlib.asynccontextmanager
async def _connected(node: BackgroundServer, cabinet: Cabinet) -> AsyncIterator[ClientConnection]:
    """The cabinet's authenticated connection to one node (raw frames, no runtime)."""
    sign = signer(cabinet.key, cabinet.cabinet_id)
    async with authenticated(node.ws_url + GATEWAY_PATH, cabinet.cabinet_id, sign) as ws:
        yield ws


def _evidence(engine: FaceEngine, face: DemoFace) -> FaceEvidence:
    """What the cabinet's own identification makes of the face in front of it: front
    frames with the depth camera's view of a real head."""
    identifier = FrontIdentifier(engine)
    rng = np.random.default_rng(5)
    for frame in face.front_frames(6, seed=5):
        depth = genuine_depth(
            DEPTH_SIZE, frame.kps, rng, distance_mm=600, shape=HEAD, sensor=SENSOR
        )
        evidence = identifier.observe(frame.image, np.round(depth).astype(np.uint16))
        if evidence is not None:
            assert isinstance(evidence, FaceEvidence)
            return evidence
    raise AssertionError("the cabinet never had enough good frames of the face")


class _Nonces:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def claim_nonce(self, nonce: str, expires_at: float) -> bool:
        fresh = nonce not in self.seen
        self.seen.add(nonce)
        return fresh


def _purchase(services: Services, cabinet_id: str, session_id: str) -> PurchaseSession:
    with services.sessions() as session:
        found = session.scalar(
            select(PurchaseSession).where(
                PurchaseSession.cabinet_id == cabinet_id,
                PurchaseSession.cabinet_session_id == session_id,
            )
        )
        assert found is not None
        session.expunge(found)
        return found


async def test_a_step_up_asked_on_node_a_is_answered_on_node_b(nodes: Nodes) -> None:
    services = nodes.services
    engine = FaceEngine.load()
    faces = demo_faces(engine)
    shop = open_shop(services)
    people: dict[str, DemoCustomer] = {}
    for role, phone in (("yao", "+82 10-3000-0003"), ("yao_twin", "+82 10-3000-0004")):
        people[role] = await sign_up(
            services, shop.site_id, role, phone, APPROVING_CARD, faces[role]
        )
    twin = people["yao_twin"]
    cabinet = _provision(nodes.a, shop.provisioning_code)
    evidence = _evidence(engine, faces["yao_twin"])
    assert evidence.liveness.passed, evidence.liveness
    identify = p.Identify(
        session_id="visit-1",
        embedding=evidence.embedding,
        quality=evidence.quality,
        liveness=evidence.liveness,
        pack_id=evidence.pack_id,
    )

    async with _connected(nodes.a, cabinet) as ws:
        await ws.send(p.encode(identify))
        asked = await until(ws, lambda m: isinstance(m, p.IdentifyResult))
        assert isinstance(asked, p.IdentifyResult)
        assert asked.decision == "step_up", asked
        await until(ws, lambda m: isinstance(m, p.Ack) and m.ack_id == identify.id)
    # node A's connection is gone; the face waits sealed in the shared database
    waiting = _purchase(services, cabinet.cabinet_id, "visit-1")
    assert waiting.state == PurchaseState.STEP_UP
    with services.sessions() as session:
        assert session.get(StepUpChallenge, waiting.id) is not None

    digits = p.StepUpDigits(session_id="visit-1", digits=twin.last4)
    async with _connected(nodes.b, cabinet) as ws:
        await ws.send(p.encode(digits))
        result = await until(
            ws, lambda m: isinstance(m, p.IdentifyResult) and m.decision != "step_up"
        )
        assert isinstance(result, p.IdentifyResult)
        assert result.decision == "approve", result
        signed = await until(ws, lambda m: isinstance(m, p.SignedCommand))
        assert isinstance(signed, p.SignedCommand)
        await until(ws, lambda m: isinstance(m, p.Ack) and m.ack_id == digits.id)

    verifier = CommandVerifier(
        cabinet_id=cabinet.cabinet_id, server_key=cabinet.server_key, nonces=_Nonces()
    )
    unlock = verifier.verify(signed)  # raises unless signed by the pinned server key
    assert isinstance(unlock, p.UnlockCommand)
    assert unlock.session_id == "visit-1"

    unlocked = _purchase(services, cabinet.cabinet_id, "visit-1")
    assert unlocked.state == PurchaseState.UNLOCKED
    assert unlocked.customer_id == twin.customer_id, "the digits told the twins apart"
    assert unlocked.hold_amount == HOLD_AMOUNT
    with services.sessions() as session:
        assert session.get(StepUpChallenge, unlocked.id) is None, "a challenge is taken once"
        holds = list(
            session.scalars(select(Authorization).where(Authorization.reference == unlocked.id))
        )
        assert session.scalar(select(func.count()).select_from(PurchaseSession)) == 1
    assert len(holds) == 1
    assert (holds[0].id, holds[0].status) == (unlocked.authorization_ref, AuthStatus.HELD)
    assert holds[0].held == HOLD_AMOUNT
    assert [step[1] for step in services.checkout.book.history(unlocked.id)] == [
        PurchaseState.IDENTIFYING,
        PurchaseState.STEP_UP,
        PurchaseState.AUTHORIZING,
        PurchaseState.UNLOCKED,
    ]

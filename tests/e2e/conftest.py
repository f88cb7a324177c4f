"""End-to-end: the real server (uvicorn) and the real cabinet runtime on simulated
hardware, talking over a real WebSocket; customers signed up from real photos."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from biometrics.engine import FaceEngine
from facepay.bootstrap import Services
from facepay.checkout.models import PurchaseSession, Receipt, SessionLine
from facepay_demo.faces import DemoFace, demo_faces
from facepay_demo.rig import CabinetRig, build_rig, provision_cabinet
from facepay_demo.script import APPROVING_CARD, LIMITED_CARD
from facepay_demo.server import BackgroundServer
from facepay_demo.shop import DemoCustomer, ShopSetup, open_shop, sign_up

# (role, phone, card, face) — "yao_twin" is the same face mirrored: step-up needed.
CAST = (
    ("minji", "+82 10-3000-0001", APPROVING_CARD, "minji"),
    ("jisoo", "+82 10-3000-0002", APPROVING_CARD, None),
    ("yao", "+82 10-3000-0003", APPROVING_CARD, "yao"),
    ("yao_twin", "+82 10-3000-0004", APPROVING_CARD, "yao_twin"),
    ("seojun", "+82 10-3000-0005", None, "seojun"),  # enrolled, but never linked a card
    ("hyunwoo", "+82 10-3000-0006", LIMITED_CARD, "hyunwoo"),
)


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    return FaceEngine.load()


@pytest.fixture(scope="session")
def faces(engine: FaceEngine) -> dict[str, DemoFace]:
    return demo_faces(engine)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """End-to-end runs use SQLite; the parts below are tested on both databases."""
    return sqlite_url


@dataclass
class World:
    services: Services
    server: BackgroundServer
    shop: ShopSetup
    people: dict[str, DemoCustomer]
    faces: dict[str, DemoFace]
    state_dir: Path
    rig: CabinetRig | None = None

    def purchase(self, cabinet_session_id: str | None) -> PurchaseSession:
        assert cabinet_session_id is not None
        with self.services.sessions() as session:
            found = session.scalar(
                select(PurchaseSession).where(
                    PurchaseSession.cabinet_id == self.shop.cabinet_id,
                    PurchaseSession.cabinet_session_id == cabinet_session_id,
                )
            )
            assert found is not None
            session.expunge(found)
            return found

    def basket(self, purchase_id: str) -> dict[str, int]:
        with self.services.sessions() as session:
            lines = session.scalars(
                select(SessionLine).where(SessionLine.session_id == purchase_id)
            )
            return {line.sku: line.quantity for line in lines}

    def receipts(self, purchase_id: str) -> list[str]:
        with self.services.sessions() as session:
            return list(
                session.scalars(select(Receipt.id).where(Receipt.session_id == purchase_id))
            )

    def count_sessions(self) -> int:
        with self.services.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(PurchaseSession)) or 0)


async def make_world(
    services: Services,
    server: BackgroundServer,
    engine: FaceEngine,
    faces: dict[str, DemoFace],
    tmp_path: Path,
) -> World:
    shop = open_shop(services)
    people = {}
    for role, phone, card, face in CAST:
        people[role] = await sign_up(
            services, shop.site_id, role, phone, card, faces[face] if face else None
        )
    state_dir = tmp_path / "cabinet"
    state_dir.mkdir()
    provision_cabinet(state_dir, server.url, shop.provisioning_code)
    return World(services, server, shop, people, faces, state_dir)


@pytest.fixture
async def world(
    live_services: Services,
    live_server: Any,
    engine: FaceEngine,
    faces: dict[str, DemoFace],
    tmp_path: Path,
) -> AsyncIterator[World]:
    world = await make_world(live_services, live_server, engine, faces, tmp_path)
    world.rig = build_rig(world.state_dir)
    await world.rig.start()
    yield world
    await world.rig.stop()

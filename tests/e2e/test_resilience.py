"""The purchase survives a lost link and a server killed in the middle of it."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import World, make_world
from server_process import ServerProcess
from tcp_proxy import TcpProxy

from facepay.bootstrap import Services, open_services
from facepay.db.engine import open_database
from facepay.db.migrate import upgrade
from facepay.keys.store import init_keys
from facepay.processor_settings import ProcessorSettings, SandboxSettings
from facepay.settings import Settings
from facepay_demo.faces import DemoFace
from facepay_demo.rig import CabinetRig, build_rig
from facepay_demo.server import free_port
from facepay_demo.visits import Visit, _decide, _wait

pytestmark = pytest.mark.slow


async def _open_take_close(rig: CabinetRig, between: Any = None) -> float:
    assert await rig.do(rig.world.door.open)
    await asyncio.sleep(0.9)
    await rig.do(rig.world.take, "top-1", 1)
    await asyncio.sleep(0.9)
    if between is not None:
        await between()
    shown = len(rig.display.shown)
    await rig.do(rig.world.door.close)
    return shown


def _paid(rig: CabinetRig, shown_before: int) -> bool:
    return any(m.startswith("Paid") for _, m in rig.display.shown[shown_before:])


async def test_link_lost_mid_session_delivers_the_close_later(
    live_services: Services,
    live_server: Any,
    faces: dict[str, DemoFace],
    tmp_path: Path,
) -> None:
    world = await make_world(live_services, live_server, faces, tmp_path)
    proxy = TcpProxy("127.0.0.1", live_server.port)
    proxy.start()
    rig = build_rig(world.state_dir, gateway_url=f"ws://127.0.0.1:{proxy.port}/v1/cabinets/ws")
    await rig.start()
    try:
        visit = Visit("minji", "minji", "face", faces["minji"].front_frames(4, seed=9))
        approved, _, session_id = await _decide(rig, visit)
        assert approved

        async def cut() -> None:
            proxy.stop()
            await _wait(lambda: not rig.runtime.link.up, 10, "the link to drop")

        shown = await _open_take_close(rig, cut)
        await asyncio.sleep(2.0)  # the session completes locally; the close waits in the outbox
        assert world.purchase(session_id).state == "unlocked"
        assert not _paid(rig, shown)
        proxy.start()
        await _wait(lambda: _paid(rig, shown), 30, "the receipt after the link came back")
        purchase = world.purchase(session_id)
        assert purchase.state == "settled"
        assert world.basket(purchase.id) == {"cola-355": 1}
        assert purchase.captured_amount == 1500
    finally:
        await rig.stop()
        proxy.close()


@dataclass
class Servers:
    services: Services  # the test's own graph on the server's database
    server: ServerProcess
    network: ServerProcess
    url: str
    ws_url: str
    port: int


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    """`facepay serve` and the sandbox card network as separate processes: the network
    (a bank, in real life) keeps its state when FacePay's server dies."""
    network_port, port = free_port(), free_port()
    api_key = secrets.token_hex(16)
    settings = Settings(
        data_dir=tmp_path / "data",
        port=port,
        processors=ProcessorSettings(
            sandbox=SandboxSettings(network_url=f"http://127.0.0.1:{network_port}", api_key=api_key)
        ),
    )
    init_keys(settings.keys_dir)
    with open_database(settings.effective_database_url) as db:
        upgrade(db.engine)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEPAY_")}
    network = ServerProcess(
        [
            sys.executable,
            "-m",
            "card_network",
            "--port",
            str(network_port),
            "--api-key",
            api_key,
            "--public-url",
            f"http://127.0.0.1:{network_port}",
        ],
        env,
        f"http://127.0.0.1:{network_port}/tsp/sessions/none",
    )
    server_env = {
        **env,
        "FACEPAY_DATA_DIR": str(settings.data_dir),
        "FACEPAY_PORT": str(port),
        "FACEPAY_SANDBOX_NETWORK_URL": settings.sandbox_network_url or "",
        "FACEPAY_SANDBOX_API_KEY": api_key,
    }
    server = ServerProcess(
        [sys.executable, "-m", "facepay", "serve"], server_env, f"http://127.0.0.1:{port}/healthz"
    )
    with open_services(settings) as services:
        network.start()
        server.start()
        yield Servers(
            services,
            server,
            network,
            f"http://127.0.0.1:{port}",
            f"ws://127.0.0.1:{port}",
            port,
        )
        server.stop()
        network.stop()


@pytest.fixture
async def killable_world(
    servers: Servers, faces: dict[str, DemoFace], tmp_path: Path
) -> AsyncIterator[World]:
    world = await make_world(servers.services, servers, faces, tmp_path)  # type: ignore[arg-type]
    world.rig = build_rig(world.state_dir)
    await world.rig.start()
    yield world
    await world.rig.stop()


async def test_server_killed_mid_session_finishes_it_after_restart(
    servers: Servers, killable_world: World
) -> None:
    rig = killable_world.rig
    assert rig is not None
    visit = Visit("minji", "minji", "face", killable_world.faces["minji"].front_frames(4, seed=10))
    approved, _, session_id = await _decide(rig, visit)
    assert approved

    async def kill() -> None:
        servers.server.kill()
        await _wait(lambda: not rig.runtime.link.up, 10, "the cabinet to notice")

    shown = await _open_take_close(rig, kill)
    await asyncio.sleep(1.5)
    assert killable_world.purchase(session_id).state == "unlocked"
    servers.server.start()
    await _wait(lambda: _paid(rig, shown), 40, "the receipt after the restart")
    purchase = killable_world.purchase(session_id)
    assert purchase.state == "settled"
    assert killable_world.basket(purchase.id) == {"cola-355": 1}
    assert purchase.captured_amount == 1500
    assert len(killable_world.receipts(purchase.id)) == 1

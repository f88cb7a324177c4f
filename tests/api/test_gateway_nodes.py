"""Several API nodes: a cabinet connected to node A is reached from node B (Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from cabinet_client import authenticated, signer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar.channels import ChannelsPlugin

from api.app import create_app
from api.cabinets.channels_link import cabinet_channel
from cabinet_runtime import protocol as p
from facepay.bootstrap import Services
from facepay.cabinets.provisioning import GATEWAY_PATH
from facepay.cabinets.service import (
    create_cabinet,
    create_site,
    issue_provisioning_code,
    redeem_provisioning_code,
)
from facepay.db.engine import open_database
from facepay.db.migrate import upgrade
from facepay.keys.signing import public_key_bytes
from facepay.keys.store import init_keys
from facepay.settings import Settings
from facepay_demo.server import BackgroundServer, free_port

pytestmark = pytest.mark.redis


@pytest.fixture
def two_nodes(
    tmp_path: Path, redis_url: str
) -> Iterator[tuple[Services, BackgroundServer, BackgroundServer]]:
    base = Settings(data_dir=tmp_path, redis_url=redis_url)
    init_keys(base.keys_dir)
    with open_database(base.effective_database_url) as db:
        upgrade(db.engine)
    servers = []
    for _ in range(2):
        settings = msgspec.structs.replace(base, port=free_port())
        server = BackgroundServer(create_app(settings), settings.port)
        server.start()
        servers.append(server)
    yield servers[0].app.state.services, servers[0], servers[1]
    for server in servers:
        server.stop()
        server.app.state.services.close()


async def test_a_message_published_on_one_node_reaches_a_cabinet_on_another(
    two_nodes: tuple[Services, BackgroundServer, BackgroundServer],
) -> None:
    services, node_a, node_b = two_nodes
    device = Ed25519PrivateKey.generate()
    with services.sessions.begin() as session:
        site = create_site(session, "site", "KRW")
        cabinet = create_cabinet(session, site.id, "c", hold_amount=1000)
        code = issue_provisioning_code(session, cabinet.id)
        redeem_provisioning_code(session, code, public_key_bytes(device))
        cabinet_id = cabinet.id
    settled = p.SessionSettled(session_id="s", receipt_id="r", amount_minor=1500, currency="KRW")
    sign = signer(device, cabinet_id)
    async with authenticated(node_a.ws_url + GATEWAY_PATH, cabinet_id, sign) as ws:
        await asyncio.sleep(0.3)  # node A has subscribed to the cabinet's channel
        channels = node_b.app.plugins.get(ChannelsPlugin)
        channels.publish(p.encode(settled), cabinet_channel(cabinet_id))
        received = p.decode_from_server(await asyncio.wait_for(ws.recv(), 10))
    assert isinstance(received, p.SessionSettled)
    assert received.id == settled.id

"""The cabinet gateway over a real WebSocket: device authentication and isolation."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import httpx
import pytest
from cabinet_client import handshake, signer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from cabinet_runtime import protocol as p
from facepay.bootstrap import Services
from facepay.cabinets import link
from facepay.cabinets.models import Cabinet, CabinetOutboxMessage
from facepay.cabinets.service import create_cabinet, create_site, issue_provisioning_code
from facepay.checkout.models import PurchaseSession
from facepay_demo.server import BackgroundServer


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass
class Device:
    cabinet_id: str
    key: Ed25519PrivateKey
    gateway_url: str


def _provisioned_device(services: Services, server: BackgroundServer, name: str) -> Device:
    with services.sessions.begin() as session:
        site = create_site(session, f"site {name}", "KRW")
        cabinet = create_cabinet(session, site.id, name, hold_amount=30000)
        code = issue_provisioning_code(session, cabinet.id)
    key = Ed25519PrivateKey.generate()
    response = httpx.post(
        f"{server.url}{p.PROVISION_PATH}",
        content=p.msgspec.json.encode(p.ProvisionRequest(code=code, public_key=_raw(key))),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    answer = p.msgspec.json.decode(response.content, type=p.ProvisionResponse)
    assert answer.cabinet_id == cabinet.id
    assert answer.server_public_key == _raw(services.keys.signing_key)
    return Device(cabinet.id, key, answer.gateway_url)


async def _login(
    device: Device, key: Ed25519PrivateKey | None = None
) -> tuple[ClientConnection, p.ServerMessage]:
    ws = await connect(device.gateway_url)
    sign = signer(key or device.key, device.cabinet_id)
    return ws, await handshake(ws, device.cabinet_id, sign)


async def test_provisioned_device_authenticates(
    live_services: Services, live_server: BackgroundServer
) -> None:
    device = _provisioned_device(live_services, live_server, "fridge")
    ws, answer = await _login(device)
    assert isinstance(answer, p.AuthOk)
    assert answer.cabinet_id == device.cabinet_id
    with live_services.sessions() as session:
        cabinet = session.get(Cabinet, device.cabinet_id)
        assert cabinet is not None
        assert cabinet.online
    await ws.close()


async def test_forged_device_key_cannot_connect(
    live_services: Services, live_server: BackgroundServer
) -> None:
    device = _provisioned_device(live_services, live_server, "fridge")
    ws, answer = await _login(device, key=Ed25519PrivateKey.generate())
    assert isinstance(answer, p.AuthFailed)
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_unknown_cabinet_cannot_connect(
    live_services: Services, live_server: BackgroundServer
) -> None:
    device = _provisioned_device(live_services, live_server, "fridge")
    stranger = Device("not-a-cabinet", Ed25519PrivateKey.generate(), device.gateway_url)
    ws, answer = await _login(stranger)
    assert isinstance(answer, p.AuthFailed)
    await ws.close()


def test_provisioning_code_is_single_use(
    live_services: Services, live_server: BackgroundServer
) -> None:
    with live_services.sessions.begin() as session:
        site = create_site(session, "site", "KRW")
        cabinet = create_cabinet(session, site.id, "c", hold_amount=1000)
        code = issue_provisioning_code(session, cabinet.id)
    body = p.msgspec.json.encode(
        p.ProvisionRequest(code=code, public_key=_raw(Ed25519PrivateKey.generate()))
    )
    headers = {"content-type": "application/json"}
    first = httpx.post(f"{live_server.url}{p.PROVISION_PATH}", content=body, headers=headers)
    assert first.status_code == 200
    again = httpx.post(f"{live_server.url}{p.PROVISION_PATH}", content=body, headers=headers)
    assert again.status_code == 400
    assert again.headers["content-type"].startswith("application/problem+json")
    assert "already used" in again.json()["detail"]
    bad_key = httpx.post(
        f"{live_server.url}{p.PROVISION_PATH}",
        json={"code": "ABCD-EFGH", "public_key": "AAAA"},
    )
    assert bad_key.status_code == 400
    assert bad_key.headers["content-type"].startswith("application/problem+json")


async def test_a_cabinet_cannot_act_for_another(
    live_services: Services, live_server: BackgroundServer
) -> None:
    mine = _provisioned_device(live_services, live_server, "mine")
    theirs = _provisioned_device(live_services, live_server, "theirs")
    with live_services.sessions.begin() as session:
        cabinet = session.get(Cabinet, theirs.cabinet_id)
        assert cabinet is not None
        session.add(
            PurchaseSession(
                cabinet_id=theirs.cabinet_id,
                cabinet_session_id="their-session",
                auth_method="face",
                state="unlocked",
                currency="KRW",
            )
        )
        settled = p.SessionSettled(
            session_id="their-session", receipt_id="r", amount_minor=0, currency="KRW"
        )
        link.enqueue(session, theirs.cabinet_id, settled)
    ws, answer = await _login(mine)
    assert isinstance(answer, p.AuthOk)
    close = p.SessionClosed(
        session_id="their-session",
        lines=(p.BasketLine(lane="A1", sku="cola", qty=5, confidence=1.0),),
        review=False,
        totals=p.RecognisedTotals(items=5, weight_delta_g=-1775.0),
    )
    await ws.send(p.encode(close))
    await ws.send(p.encode(p.Ack(ack_id=settled.id)))
    await ws.send(p.encode(p.Hello(cabinet_id=theirs.cabinet_id)))
    replies: list[p.ServerMessage] = []

    def acked(r: p.ServerMessage) -> bool:
        return isinstance(r, p.Ack) and r.ack_id == close.id

    def refused(r: p.ServerMessage) -> bool:
        return isinstance(r, p.ErrorReply) and r.code == "already_authenticated"

    # the close of a session that is not this cabinet's is also answered with an error
    with contextlib.suppress(TimeoutError):
        while not (any(map(acked, replies)) and any(map(refused, replies))):
            replies.append(p.decode_from_server(await asyncio.wait_for(ws.recv(), 10)))
    assert any(map(acked, replies)), replies
    assert any(map(refused, replies)), replies
    await ws.close()
    with live_services.sessions() as session:
        theirs_session = session.scalar(
            select(PurchaseSession).where(PurchaseSession.cabinet_session_id == "their-session")
        )
        assert theirs_session is not None
        assert theirs_session.state == "unlocked"
        assert theirs_session.close_message_id is None
        outbox = session.get(CabinetOutboxMessage, settled.id)
        assert outbox is not None
        assert outbox.acked_at is None


async def test_telemetry_and_presence(
    live_services: Services, live_server: BackgroundServer
) -> None:
    device = _provisioned_device(live_services, live_server, "fridge")
    ws, _ = await _login(device)
    report = p.Telemetry(at=1.0, temperature_c=3.5, door="closed", locked=True, state="idle")
    await ws.send(p.encode(report))
    ack = p.decode_from_server(await asyncio.wait_for(ws.recv(), 10))
    assert isinstance(ack, p.Ack)
    assert ack.ack_id == report.id
    await ws.close()
    for _ in range(100):
        with live_services.sessions() as session:
            cabinet = session.get(Cabinet, device.cabinet_id)
            assert cabinet is not None
            if not cabinet.online:
                break
        await asyncio.sleep(0.05)
    assert not cabinet.online
    assert cabinet.last_telemetry is not None
    assert '"temperature_c":3.5' in cabinet.last_telemetry.replace(" ", "")


async def test_unacknowledged_messages_are_resent_on_reconnect(
    live_services: Services, live_server: BackgroundServer
) -> None:
    device = _provisioned_device(live_services, live_server, "fridge")
    settled = p.SessionSettled(session_id="s1", receipt_id="r1", amount_minor=1500, currency="KRW")
    with live_services.sessions.begin() as session:
        link.enqueue(session, device.cabinet_id, settled)
    for _ in range(2):  # not acknowledged: comes again on the next connection
        ws, _ = await _login(device)
        message = p.decode_from_server(await asyncio.wait_for(ws.recv(), 10))
        assert isinstance(message, p.SessionSettled)
        assert message.id == settled.id
        await ws.close()
    ws, _ = await _login(device)
    message = p.decode_from_server(await asyncio.wait_for(ws.recv(), 10))
    await ws.send(p.encode(p.Ack(ack_id=message.id)))
    await asyncio.sleep(0.3)
    await ws.close()
    with live_services.sessions() as session:
        row = session.get(CabinetOutboxMessage, settled.id)
        assert row is not None
        assert row.acked_at is not None

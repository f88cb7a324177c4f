"""Provisioning: a device redeems a one-time code and learns what to pin."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from cabinet_runtime.protocol import ProvisionRequest, ProvisionResponse
from facepay.cabinets.service import redeem_provisioning_code

GATEWAY_PATH = "/v1/cabinets/ws"


def gateway_url(public_url: str) -> str:
    """The WebSocket address cabinets connect to, on the server's public address."""
    return public_url.replace("http", "ws", 1).rstrip("/") + GATEWAY_PATH


@dataclass(frozen=True)
class Provisioning:
    sessions: sessionmaker[Session]
    server_public_key: bytes
    public_url: str

    def redeem(self, request: ProvisionRequest) -> ProvisionResponse:
        with self.sessions.begin() as session:
            cabinet_id = redeem_provisioning_code(session, request.code, request.public_key).id
        return ProvisionResponse(
            cabinet_id=cabinet_id,
            server_public_key=self.server_public_key,
            gateway_url=gateway_url(self.public_url),
        )

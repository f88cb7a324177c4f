"""Cabinet provisioning over HTTP (the device side is `cabinet-runtime provision`)."""

from __future__ import annotations

from anyio import to_thread
from litestar import post
from litestar.datastructures import State
from litestar.params import JSONBody

from api.gateway import GATEWAY_PATH
from cabinet_runtime.protocol import PROVISION_PATH, ProvisionRequest, ProvisionResponse
from facepay.cabinets.service import redeem_provisioning_code
from facepay.keys.signing import public_key_bytes
from facepay.platform import Platform


@post(PROVISION_PATH, tags=["cabinets"], status_code=200)
async def provision_cabinet(data: JSONBody[ProvisionRequest], state: State) -> ProvisionResponse:
    """Register a device key with a one-time code; answer with what the device pins."""
    platform: Platform = state.platform

    def redeem() -> str:
        with platform.sessions.begin() as session:
            return redeem_provisioning_code(session, data.code, data.public_key).id

    cabinet_id = await to_thread.run_sync(redeem)
    base = platform.settings.effective_public_url.replace("http", "ws", 1)
    return ProvisionResponse(
        cabinet_id=cabinet_id,
        server_public_key=public_key_bytes(platform.keys.signing_key),
        gateway_url=base.rstrip("/") + GATEWAY_PATH,
    )

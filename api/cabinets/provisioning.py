"""Cabinet provisioning over HTTP (the device side is `cabinet-runtime provision`)."""

from __future__ import annotations

from anyio import to_thread
from litestar import post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from cabinet_runtime.protocol import PROVISION_PATH, ProvisionRequest, ProvisionResponse
from facepay.cabinets.provisioning import Provisioning


@post(PROVISION_PATH, tags=["cabinets"], status_code=200)
async def provision_cabinet(
    data: JSONBody[ProvisionRequest], provisioning: NamedDependency[Provisioning]
) -> ProvisionResponse:
    """Register a device key with a one-time code; answer with what the device pins."""
    return await to_thread.run_sync(provisioning.redeem, data)

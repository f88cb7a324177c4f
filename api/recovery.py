"""Background recovery while the server runs: finish interrupted work.

At start, build the site galleries. Then, periodically: settle purchase
sessions whose close was recorded but whose settlement did not finish (a
crash, a processor outage), and let payments reconcile operations with
unknown outcomes, void expired holds and purge old idempotency keys. Both
are idempotent, so every API node may run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from anyio import to_thread
from litestar import Litestar
from litestar.channels import ChannelsPlugin

from api.gateway import cabinet_channel
from facepay.checkout.closing import settle_unsettled
from facepay.identification.service import identification_service
from facepay.platform import Platform
from payments.maintenance import run_maintenance

log = logging.getLogger(__name__)

RECOVERY_INTERVAL_S = 30.0


def recover_once(platform: Platform, channels: ChannelsPlugin) -> None:
    def publish(cabinet_id: str, payload: bytes) -> None:
        channels.publish(payload, cabinet_channel(cabinet_id))

    run_maintenance(platform.payments.authorizations)
    settle_unsettled(platform, publish)


def warm_galleries(platform: Platform) -> None:
    """Build every site's matcher now, not on a customer's first visit."""
    identification_service(platform).warm()


async def _loop(platform: Platform, channels: ChannelsPlugin) -> None:
    try:
        await to_thread.run_sync(warm_galleries, platform)
    except Exception:  # not ready yet (no keys, no schema): galleries build on first use
        log.exception("warming the galleries failed")
    while True:
        try:
            await to_thread.run_sync(recover_once, platform, channels)
        except Exception:  # logged; the next round tries again
            log.exception("recovery round failed")
        await asyncio.sleep(RECOVERY_INTERVAL_S)


@contextlib.asynccontextmanager
async def recovery(app: Litestar) -> AsyncIterator[None]:
    task = asyncio.create_task(_loop(app.state.platform, app.plugins.get(ChannelsPlugin)))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

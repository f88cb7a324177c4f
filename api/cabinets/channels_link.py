"""The cabinet link over Litestar channels: in-process, or Redis between API nodes.

Each cabinet listens on its own channel on whichever node holds its connection, so a
message sent from any node reaches it. ``send`` is called from worker threads (the
checkout runs there), and the channels plugin's queue belongs to the event loop, so
the publish is handed to the loop thread-safely.
"""

from __future__ import annotations

import asyncio

from litestar.channels import ChannelsPlugin


def cabinet_channel(cabinet_id: str) -> str:
    return f"cabinet.{cabinet_id}"


class ChannelsCabinetLink:
    def __init__(self, channels: ChannelsPlugin) -> None:
        self.channels = channels
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The server's event loop, once it runs (the app's startup)."""
        self._loop = loop

    def send(self, cabinet_id: str, payload: bytes) -> None:
        loop = self._loop
        if loop is None:
            raise RuntimeError("the cabinet link is used before the server started")
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self.channels.publish(payload, cabinet_channel(cabinet_id))
        else:
            loop.call_soon_threadsafe(self.channels.publish, payload, cabinet_channel(cabinet_id))

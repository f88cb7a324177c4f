"""How the server's messages reach a cabinet: one way for every message.

``CabinetLink`` is the transport: the API's gateway implements it with Litestar channels
(in-process, or Redis between API nodes, so a cabinet connected to node A hears node
B). Messages that must arrive (``session_settled``) are first kept in the durable
outbox (``facepay.cabinets.link.enqueue``) in the transaction that caused them, then
sent; the gateway resends the unacknowledged ones when the cabinet reconnects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cabinet_runtime.protocol import Message, encode


class CabinetLink(Protocol):
    def send(self, cabinet_id: str, payload: bytes) -> None:
        """Queue ``payload`` (an encoded message) for the cabinet; never blocks, thread-safe."""
        ...


class OfflineCabinetLink:
    """The link of a process that holds no cabinet connection (a command): messages that
    must arrive wait in the durable outbox until the server resends them; there is no one
    to hear a direct reply."""

    def send(self, cabinet_id: str, payload: bytes) -> None:
        return None


def send_all(link: CabinetLink, cabinet_id: str, messages: Sequence[Message]) -> None:
    for message in messages:
        link.send(cabinet_id, encode(message))

"""Change events about customers' biometric data.

The customer services publish after their transaction commits; the galleries
subscribe and update their in-memory index. The bootstrap builds one bus per
server; with ``redis_url`` set, it also relays changes to and from the other API
nodes (``facepay.customers.change_relay``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

log = logging.getLogger("facepay.customers.events")


class ChangeKind(StrEnum):
    ENROLLED = "enrolled"  # a new or replaced face template
    COHORTS_CHANGED = "cohorts_changed"  # joined or left a site
    TEMPLATES_REMOVED = "templates_removed"  # consent withdrawn
    DELETED = "deleted"  # the customer's data is gone


@dataclass(frozen=True)
class BiometricChange:
    customer_id: str
    kind: ChangeKind


Listener = Callable[[BiometricChange], None]


class ChangeRelay(Protocol):
    """Carries this node's changes to the other API nodes (``RedisChangeRelay``)."""

    def forward(self, change: BiometricChange) -> None: ...

    def close(self) -> None: ...


class ChangeBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._resync: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        # Set once by the bootstrap when API nodes share changes; it delivers theirs here.
        self.relay: ChangeRelay | None = None

    def close(self) -> None:
        if self.relay is not None:
            self.relay.close()

    def subscribe(self, listener: Listener, *, resync: Callable[[], None] | None = None) -> None:
        """``resync`` runs when changes may have been missed (a relay reconnected)."""
        with self._lock:
            self._listeners.append(listener)
            if resync is not None:
                self._resync.append(resync)

    def publish(self, change: BiometricChange) -> None:
        """A change committed on this node: tell the local listeners and the other nodes."""
        self.deliver(change)
        if self.relay is not None:
            self.relay.forward(change)

    def resync(self) -> None:
        with self._lock:
            callbacks = list(self._resync)
        for callback in callbacks:
            callback()

    def deliver(self, change: BiometricChange) -> None:
        """Run the local listeners (for this node's changes and those relayed from others)."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            # The change has committed: a failing listener must not turn it into
            # an error for the caller (listeners recover on their own).
            try:
                listener(change)
            except Exception:
                log.exception("listener failed on %s", change)

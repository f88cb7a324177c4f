"""Change events about customers' biometric data.

The customer services publish after their transaction commits; the galleries
subscribe and update their in-memory index. One bus per Platform: two
platforms in one process (tests) never see each other's changes. With
``redis_url`` set, the bus also relays changes to and from the other API
nodes (``facepay.identification.relay``).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from facepay.platform import Platform

if TYPE_CHECKING:
    from facepay.identification.relay import RedisChangeRelay

log = logging.getLogger("facepay.identification")


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


class ChangeBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._resync: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.relay: RedisChangeRelay | None = None

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


_buses: dict[int, ChangeBus] = {}
_buses_lock = threading.Lock()


def change_bus(platform: Platform) -> ChangeBus:
    """The platform's bus; relayed over Redis to the other API nodes when redis_url is set."""
    with _buses_lock:
        bus = _buses.get(id(platform))
        if bus is None:
            bus = _buses[id(platform)] = ChangeBus()
            settings = platform.settings
            if settings.redis_url:
                from facepay.identification.relay import RedisChangeRelay, channel_for

                url = settings.effective_database_url.render_as_string(hide_password=True)
                bus.relay = RedisChangeRelay(
                    settings.redis_url, channel_for(url), bus.deliver, bus.resync
                )
                weakref.finalize(platform, bus.relay.close)
            weakref.finalize(platform, _buses.pop, id(platform), None)
        return bus


def publish(platform: Platform, customer_id: str, kind: ChangeKind) -> None:
    change_bus(platform).publish(BiometricChange(customer_id, kind))

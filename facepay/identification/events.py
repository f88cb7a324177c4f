"""In-process change events about customers' biometric data.

The customer services publish after their transaction commits; the galleries
subscribe and update their in-memory index. One bus per Platform: two
platforms in one process (tests) never see each other's changes.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from facepay.platform import Platform

log = logging.getLogger("facepay.identification")


class ChangeKind(StrEnum):
    ENROLLED = "enrolled"  # a new or replaced face template
    COHORTS_CHANGED = "cohorts_changed"  # joined or left a site
    PHONE_CHANGED = "phone_changed"  # the step-up factor changed
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
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def publish(self, change: BiometricChange) -> None:
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
    with _buses_lock:
        bus = _buses.get(id(platform))
        if bus is None:
            bus = _buses[id(platform)] = ChangeBus()
            weakref.finalize(platform, _buses.pop, id(platform), None)
        return bus


def publish(platform: Platform, customer_id: str, kind: ChangeKind) -> None:
    change_bus(platform).publish(BiometricChange(customer_id, kind))

"""Clocks: the real one, and a manual one that lets a simulation skip ahead."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class SystemClock:
    """Wall time for a real cabinet."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


@dataclass(order=True)
class _Timer:
    due: float
    seq: int
    action: Callable[[], None] = field(compare=False)


class ManualClock:
    """Virtual time: ``sleep`` returns at once after moving time forward.

    Callbacks scheduled with ``call_at`` run, in time order, as time passes
    them, so a simulated world (a customer opening the door at t=3 s) can act
    while the code under test sleeps or waits.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[_Timer] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def call_at(self, t: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, _Timer(t, next(self._seq), action))

    def advance(self, seconds: float) -> None:
        self.advance_to(self._now + seconds)

    def advance_to(self, t: float) -> None:
        while self._timers and self._timers[0].due <= t:
            timer = heapq.heappop(self._timers)
            self._now = max(self._now, timer.due)
            timer.action()
        self._now = max(self._now, t)

"""Records a session from the hardware interfaces, durably.

The runtime polls the scales continuously (the recorder keeps the last
``LOOKBACK_S`` of idle signal as the reference), calls ``begin`` when the lock
is released (before frames), ``door_opened``/``door_closed`` as the sensor
reports, and ``finish`` once ``is_settled`` (after frames). ``checkpoint``
writes everything to disk so that after a power cut ``resume`` continues the
same session and recognition still yields its basket.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cabinet_runtime.hardware.interfaces import Clock, ShelfCamera, ShelfScale
from cabinet_runtime.picks.recording import (
    SessionRecording,
    ShelfRecording,
    encode_frame,
    load_recording,
    save_recording,
)
from cabinet_runtime.picks.weighing import LOOKBACK_S, estimate_noise, final_level

MAX_SETTLE_S = 8.0
"""After this long without a final level the session is judged on what there is."""


class SessionRecorder:
    def __init__(
        self,
        scales: Mapping[str, ShelfScale],
        cameras: Mapping[str, ShelfCamera],
        clock: Clock,
        store: Path | None = None,
        recording: SessionRecording | None = None,
        durable: bool = True,
    ) -> None:
        self._scales = scales
        self._cameras = cameras
        self._clock = clock
        self._store = store
        self._durable = durable
        self.recording = recording or SessionRecording(
            {shelf_id: ShelfRecording(shelf_id) for shelf_id in scales}
        )
        self.active = recording is not None

    @classmethod
    def resume(
        cls,
        store: Path,
        scales: Mapping[str, ShelfScale],
        cameras: Mapping[str, ShelfCamera],
        clock: Clock,
        durable: bool = True,
    ) -> SessionRecorder:
        """The session saved at ``store`` by the last ``checkpoint``."""
        return cls(scales, cameras, clock, store, load_recording(store), durable)

    def poll(self) -> None:
        for shelf_id, scale in self._scales.items():
            rec = self.recording.shelves.setdefault(shelf_id, ShelfRecording(shelf_id))
            rec.add(scale.read_samples())
            if not self.active:
                horizon = self._clock.monotonic() - LOOKBACK_S
                cut = next((i for i, s in enumerate(rec.samples) if s[0] >= horizon), None)
                rec.samples = rec.samples[cut:] if cut is not None else []

    def begin(self) -> None:
        """The lock is released: freeze the reference and take the before frames."""
        self.poll()
        self.active = True
        for shelf_id, camera in self._cameras.items():
            rec = self.recording.shelves.setdefault(shelf_id, ShelfRecording(shelf_id))
            rec.before_jpeg = encode_frame(camera.capture())
        self.checkpoint()

    def door_opened(self, t: float) -> None:
        if self.recording.opened_at is None:
            self.recording.opened_at = t
            self.checkpoint()

    def door_closed(self, t: float) -> None:
        self.recording.closed_at = t
        self.checkpoint()

    def is_settled(self) -> bool:
        closed = self.recording.closed_at
        if closed is None:
            return False
        if self._clock.monotonic() - closed >= MAX_SETTLE_S:
            return True
        for rec in self.recording.shelves.values():
            times, grams = rec.times_grams()
            if self.recording.opened_at is None or times.size == 0:
                continue
            idle = (times < self.recording.opened_at) & (
                times >= self.recording.opened_at - LOOKBACK_S
            )
            if final_level(times, grams, estimate_noise(grams[idle]), closed) is None:
                return False
        return True

    def finish(self) -> SessionRecording:
        """Take the after frames; the recording is complete."""
        self.poll()
        for shelf_id, camera in self._cameras.items():
            rec = self.recording.shelves.setdefault(shelf_id, ShelfRecording(shelf_id))
            rec.after_jpeg = encode_frame(camera.capture())
        self.checkpoint()
        return self.recording

    def checkpoint(self) -> None:
        """Persist the session; before ``begin`` there is nothing worth keeping."""
        if self._store is not None and self.active:
            save_recording(self.recording, self._store, self._durable)

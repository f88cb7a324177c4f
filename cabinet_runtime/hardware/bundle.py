"""All of a cabinet's devices in one object, as the rest of the runtime sees them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cabinet_runtime.hardware.interfaces import (
    Clock,
    DepthCamera,
    DeviceHealth,
    Display,
    DoorLock,
    DoorSensor,
    FrontCamera,
    HardwareHealth,
    Keypad,
    ShelfCamera,
    ShelfScale,
    Thermometer,
)


@dataclass
class Hardware:
    clock: Clock
    lock: DoorLock
    door: DoorSensor
    front_camera: FrontCamera
    thermometer: Thermometer
    display: Display
    keypad: Keypad
    scales: Mapping[str, ShelfScale] = field(default_factory=dict)
    shelf_cameras: Mapping[str, ShelfCamera] = field(default_factory=dict)
    depth_camera: DepthCamera | None = None

    def health(self) -> HardwareHealth:
        devices: list[DeviceHealth] = [
            self.lock.health(),
            self.door.health(),
            self.front_camera.health(),
            self.thermometer.health(),
            self.display.health(),
            self.keypad.health(),
        ]
        if self.depth_camera is not None:
            devices.append(self.depth_camera.health())
        devices.extend(scale.health() for scale in self.scales.values())
        devices.extend(camera.health() for camera in self.shelf_cameras.values())
        return HardwareHealth(tuple(devices))

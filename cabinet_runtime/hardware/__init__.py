"""Hardware interfaces of a cabinet and their drivers.

- ``interfaces``: the protocols the runtime codes against (DoorLock, DoorSensor,
  FrontCamera, DepthCamera, ShelfScale, ShelfCamera, Thermometer, Display,
  Keypad, Clock) and the health report types.
- ``bundle.Hardware``: every device of one cabinet; ``factory.build_hardware``
  builds it from the [hardware] table of cabinet.toml.
- ``simulated`` / ``simulated_scale``: drivers that can be told to misbehave.
- ``opencv_camera``: a real camera or a video file through OpenCV.
- ``shelf_layout``: where lanes and item slots fall in a shelf camera frame.
- ``clock``: ``SystemClock`` and the virtual ``ManualClock``.
"""

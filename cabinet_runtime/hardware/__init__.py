"""Hardware interfaces of a cabinet and their drivers (simulated, OpenCV)."""

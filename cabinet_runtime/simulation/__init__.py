"""The simulated cabinet world: shelves, scale physics, camera rendering, faults."""

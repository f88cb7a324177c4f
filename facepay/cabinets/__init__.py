"""cabinets."""

"""cabinet_runtime."""

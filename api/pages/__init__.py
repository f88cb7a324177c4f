"""Server-rendered pages (no JavaScript framework)."""

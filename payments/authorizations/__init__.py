"""Authorization holds and their follow-ups, with crash-safe processor calls."""

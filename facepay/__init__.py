"""facepay."""

"""Processor implementations: sandbox, stripe, partner."""

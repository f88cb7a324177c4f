"""Presentation-attack detection: depth relief, motion parallax, a passive model.

Each check returns a CheckResult; ``assess_liveness`` combines them into one
LivenessReport with a decision and reasons.
"""

"""The outcome of one liveness check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    """``passed`` is None when the check had too little evidence to decide
    (no depth pixels, no head movement): that is neither live nor spoof."""

    name: str  # "depth" | "motion" | "passive"
    score: float  # 0..1, higher is more live-like; 0.5 is the pass line
    passed: bool | None
    reasons: tuple[str, ...] = ()
    measurements: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "score": round(self.score, 4),
            "passed": self.passed,
            "reasons": list(self.reasons),
            "measurements": {k: round(v, 4) for k, v in self.measurements.items()},
        }


def ramp(value: float, pass_line: float, full: float) -> float:
    """Map ``value`` to a 0..1 score that is 0.5 at ``pass_line`` and 1 at ``full``."""
    if full == pass_line:
        return 1.0 if value >= pass_line else 0.0
    score = 0.5 + 0.5 * (value - pass_line) / (full - pass_line)
    return float(min(1.0, max(0.0, score)))

"""Models the tests take from the shared folder beside the repository (tests may read it;
the product never does: it uses a model only when one is configured)."""

from __future__ import annotations

import os
from pathlib import Path

ANTISPOOF_MODEL = (
    Path(__file__).resolve().parents[2] / "shared" / "models" / "antispoof"
) / "minifasnet_v2se_128_fp32.onnx"


def antispoof_model() -> Path | None:
    """FACEPAY_ANTISPOOF_MODEL when a tester sets one, else the shared MiniFASNet model;
    None when neither is there."""
    configured = os.environ.get("FACEPAY_ANTISPOOF_MODEL")
    path = Path(configured) if configured else ANTISPOOF_MODEL
    return path if path.is_file() else None

"""`facepay doctor`: the effective settings and the state of every part."""

from __future__ import annotations

from typing import Any

from facepay.db.engine import make_engine
from facepay.health import run_checks
from facepay.keys.store import load_keys
from facepay.payment_services import sandbox_api_key
from facepay.processor_health import check_processors
from facepay.settings import Settings, masked


def doctor_report(settings: Settings) -> dict[str, Any]:
    engine = make_engine(settings.effective_database_url)
    try:
        checks = run_checks(settings, engine)
    finally:
        engine.dispose()
    # Processors are probed here, not in /readyz: a readiness probe must not call out
    # to Stripe or a partner on every poll.
    checks += check_processors(
        settings, lambda: sandbox_api_key(settings, load_keys(settings.keys_dir))
    )
    return {
        "ok": all(c.ok for c in checks),
        "settings": masked(settings),
        "checks": {c.name: {"ok": c.ok, "detail": c.detail, **c.facts} for c in checks},
    }


def render_report(report: dict[str, Any]) -> str:
    lines = ["Settings:"]
    lines += [f"  {k:<28} {v}" for k, v in report["settings"].items()]
    lines.append("Checks:")
    for name, check in report["checks"].items():
        mark = "ok  " if check["ok"] else "FAIL"
        lines.append(f"  [{mark}] {name:<18} {check['detail']}")
    lines.append(
        "All required parts are working." if report["ok"] else "Something required is broken."
    )
    return "\n".join(lines)

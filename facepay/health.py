"""Checks of each part the server needs, shared by /readyz and `facepay doctor`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from biometrics.errors import ModelPackError
from biometrics.model_pack import inspect_pack
from facepay.db.migrate import migration_state
from facepay.errors import KeyFileError
from facepay.keys.signing import fingerprint
from facepay.keys.store import load_keys
from facepay.settings import Settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)


def check_database(engine: Engine) -> Check:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return Check("database", False, f"unreachable: {_first_line(exc)}")
    return Check("database", True, f"reachable ({engine.dialect.name})")


def check_migrations(engine: Engine) -> Check:
    try:
        state = migration_state(engine)
    except SQLAlchemyError as exc:
        return Check("migrations", False, f"cannot read: {_first_line(exc)}")
    facts = {"current": state.current, "head": state.head}
    if state.is_current:
        return Check("migrations", True, f"at head {state.head}", facts)
    return Check(
        "migrations",
        False,
        f"at {state.current or 'nothing'}, head is {state.head}; run `facepay db upgrade`",
        facts,
    )


def check_keys(settings: Settings) -> Check:
    try:
        keys = load_keys(settings.keys_dir)
        keys.secrets.open_all()  # every value opens with the KEK ring on disk
        secrets = keys.secrets.describe()
    except KeyFileError as exc:
        return Check("keys", False, str(exc))
    facts = {
        "kek_active_version": keys.kek.active_version,
        "signing_key": fingerprint(keys.signing_key),
        "secrets": secrets,
    }
    return Check("keys", True, f"present in {settings.keys_dir}", facts)


def check_model_pack(settings: Settings) -> Check:
    try:
        info = inspect_pack(settings.model_pack_dir, settings.model_licence)
    except ModelPackError as exc:
        return Check("model_pack", False, str(exc))
    facts = {
        "path": str(info.path),
        "pack_id": info.pack_id,
        "files": [f.path.name for f in info.files],
        "licence_status": info.licence.status,
        "commercial_use_permitted": info.licence.commercial_use_permitted,
        "licence_detail": info.licence.detail,
    }
    if settings.mode == "production" and not info.licence.commercial_use_permitted:
        return Check(
            "model_pack",
            False,
            f"{info.pack_id} is licensed for non-commercial use only; production mode needs "
            "a commercial pack or FACEPAY_MODEL_LICENCE naming the licence you hold",
            facts,
        )
    return Check("model_pack", True, f"{info.pack_id} ({info.licence.status})", facts)


def run_checks(settings: Settings, engine: Engine) -> list[Check]:
    checks: list[Callable[[], Check]] = [
        lambda: check_database(engine),
        lambda: check_migrations(engine),
        lambda: check_keys(settings),
        lambda: check_model_pack(settings),
    ]
    return [check() for check in checks]


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

"""What `facepay serve` does before it listens.

In development mode the embedded defaults set themselves up (data directory,
keys, schema) so a newcomer needs nothing else; production mode changes
nothing on its own and refuses to start while a check fails.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from facepay.db.engine import open_database
from facepay.db.migrate import migration_state, upgrade
from facepay.errors import FacePayError
from facepay.health import run_checks
from facepay.keys.kek import KEK_FILE
from facepay.keys.legacy import migrate_secrets
from facepay.keys.secrets import SECRETS_FILE
from facepay.keys.signing import SIGNING_KEY_FILE
from facepay.keys.store import init_keys
from facepay.settings import Settings


class NotReadyError(FacePayError):
    title = "Not ready"


def prepare_for_serving(settings: Settings, say: Callable[[str], None]) -> None:
    with open_database(settings.effective_database_url) as db:
        _prepare(settings, db.engine, say)


def _prepare(settings: Settings, engine: Engine, say: Callable[[str], None]) -> None:
    if settings.mode == "development":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        keys_dir = settings.keys_dir
        if not (keys_dir / KEK_FILE).exists() and not (keys_dir / SIGNING_KEY_FILE).exists():
            init_keys(keys_dir)
            say(f"created development keys in {keys_dir}")
        elif migrate_secrets(keys_dir) is not None:
            say(f"moved the secrets derived from the signing key into {keys_dir / SECRETS_FILE}")
        if not migration_state(engine).is_current:
            upgrade(engine)
            say(f"database migrated: {settings.effective_database_url.render_as_string()}")
    failed = [c for c in run_checks(settings, engine) if not c.ok]
    if failed:
        raise NotReadyError("; ".join(f"{c.name}: {c.detail}" for c in failed))

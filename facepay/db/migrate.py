"""Running migrations and asking where a database stands."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def head_revision() -> str | None:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return script.get_current_head()


@dataclass(frozen=True)
class MigrationState:
    current: str | None
    head: str | None

    @property
    def is_current(self) -> bool:
        return self.current == self.head


def migration_state(engine: Engine) -> MigrationState:
    """Raises SQLAlchemy's OperationalError when the database is unreachable."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return MigrationState(current=current, head=head_revision())


def autogenerate_revision(engine: Engine, message: str) -> None:
    """For developers: write a new revision from the difference to the models."""
    command.revision(alembic_config(engine), message=message, autogenerate=True)

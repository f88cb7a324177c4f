"""The running server's shared parts: settings, database, keys.

Built once per process (or per test) and handed to the API and the commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from facepay.db.engine import make_engine, make_session_factory
from facepay.keys.store import ServerKeys, load_server_keys
from facepay.payment_services import PaymentServices, build_payment_services
from facepay.settings import Settings


@dataclass
class Platform:
    settings: Settings
    engine: Engine = field(init=False)
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.settings.effective_database_url)
        self.sessions = make_session_factory(self.engine)

    @cached_property
    def keys(self) -> ServerKeys:
        """Loaded on first use: commands that need no keys must not demand them."""
        return load_server_keys(self.settings)

    @cached_property
    def payments(self) -> PaymentServices:
        return build_payment_services(self.settings, self.keys)

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if "payments" in self.__dict__:
            self.payments.close()
        self.engine.dispose()

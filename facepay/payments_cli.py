"""`facepay ledger ...` and `facepay webhooks ...`: the payments library's operations."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine

from facepay.settings import Settings
from payments.db import create_payments_engine, utcnow, write_transaction
from payments.errors import NotFoundError
from payments.ledger.cli import verify_command
from payments.webhooks_outbound import dead_letters, redeliver


def _database_url(settings: Settings) -> str:
    return settings.effective_database_url.render_as_string(hide_password=False)


@contextmanager
def _payments_engine(settings: Settings) -> Iterator[Engine]:
    engine = create_payments_engine(_database_url(settings))
    try:
        yield engine
    finally:
        engine.dispose()


def _ledger_verify(args: argparse.Namespace, settings: Settings) -> int:
    return verify_command(_database_url(settings))


def _dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    with _payments_engine(settings) as engine, write_transaction(engine) as session:
        letters = dead_letters(session)
        for letter in letters:
            print(f"{letter.delivery_id}  dead since {letter.dead_at:%Y-%m-%d %H:%M}Z")
        print(f"{len(letters)} dead-lettered deliveries")
    return 0


def _redeliver(args: argparse.Namespace, settings: Settings) -> int:
    with _payments_engine(settings) as engine, write_transaction(engine) as session:
        try:
            delivery = redeliver(session, args.delivery_id, utcnow())
        except NotFoundError as exc:
            print(f"facepay: error: {exc}")
            return 1
        print(f"delivery {delivery.id} queued again")
    return 0


def register(commands: Any) -> None:
    ledger = commands.add_parser("ledger", help="the double-entry ledger")
    ledger_actions = ledger.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    ledger_actions.add_parser(
        "verify", help="prove debits equal credits per currency; exit 1 on any imbalance"
    ).set_defaults(handler=_ledger_verify)
    webhooks = commands.add_parser("webhooks", help="outbound webhooks to merchants and partners")
    actions = webhooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    actions.add_parser("dead-letters", help="deliveries that gave up").set_defaults(
        handler=_dead_letters
    )
    again = actions.add_parser("redeliver", help="queue a delivery again, with a new retry window")
    again.add_argument("delivery_id")
    again.set_defaults(handler=_redeliver)

"""The `facepay` command."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from facepay.db.engine import open_database
from facepay.errors import FacePayError
from facepay.settings import CONFIG_FILE_ENV, Settings, load_settings

APP_FACTORY = "api.app:create_app_from_environment"
# Modules that add their own sub-commands: each has `register(commands)`, where
# `commands` is the sub-parsers object; a sub-command sets `handler` like those below.
COMMAND_MODULES: tuple[str, ...] = (
    "facepay.cabinets.cli",
    "facepay_demo.main",
    "facepay.customers.commands",
    "facepay.payments_cli",
)
Handler = Callable[[argparse.Namespace, Settings], int]


def _say(message: str) -> None:
    print(message, flush=True)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from facepay.setup import prepare_for_serving

    # The app factory reads the settings again, from the environment: what the command
    # line says goes there, so the public URL (card links, provisioning) follows --port and
    # --host unless FACEPAY_PUBLIC_URL names another address.
    if args.config:
        os.environ[CONFIG_FILE_ENV] = str(args.config)
    if args.host:
        os.environ["FACEPAY_HOST"] = args.host
    if args.port:
        os.environ["FACEPAY_PORT"] = str(args.port)
    settings = load_settings(config_file=args.config)
    prepare_for_serving(settings, _say)
    host, port = settings.host, settings.port
    _say(f"FacePay listening on http://{host}:{port}  (OpenAPI: /schema, health: /readyz)")
    # The API sits above this package, so it is named, not imported (as uvicorn
    # --factory would); that also leaves room for workers and reload.
    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, log_level=settings.log_level)
    return 0


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from facepay.doctor import doctor_report, render_report

    report = doctor_report(settings)
    _say(json.dumps(report, indent=2) if args.json else render_report(report))
    return 0 if report["ok"] else 1


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from facepay.db.migrate import migration_state, upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open_database(settings.effective_database_url) as db:
        upgrade(db.engine)
        _say(f"database at {migration_state(db.engine).current}")
    return 0


def cmd_db_current(args: argparse.Namespace, settings: Settings) -> int:
    from facepay.db.migrate import migration_state

    with open_database(settings.effective_database_url) as db:
        state = migration_state(db.engine)
    _say(f"current: {state.current or '(empty database)'}\nhead:    {state.head}")
    return 0 if state.is_current else 1


def cmd_keys_init(args: argparse.Namespace, settings: Settings) -> int:
    from facepay.keys.store import init_keys

    for path in init_keys(settings.keys_dir):
        _say(f"wrote {path} (mode 0600)")
    return 0


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from facepay.keys.rotation import rotate_kek

    with open_database(settings.effective_database_url) as db:
        report = rotate_kek(settings.keys_dir, db.sessions)
    _say(
        f"KEK version {report.active_version} is active (was {report.previous_version}); "
        f"re-wrapped {report.rewrapped} data keys and {report.rewrapped_secrets} secrets"
    )
    return 0


def cmd_keys_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from facepay.keys.legacy import migrate_secrets

    store = migrate_secrets(settings.keys_dir)
    if store is None:
        _say(f"nothing to migrate: {settings.keys_dir} has its secret store already")
    else:
        _say(
            f"wrote {store.path} (mode 0600): version 1 of each secret is the value derived "
            "from the signing key, so stored credentials and live sessions keep working; "
            "the signing key now signs only and may rotate"
        )
    return 0


def cmd_keys_rotate_credentials(args: argparse.Namespace, settings: Settings) -> int:
    from facepay.keys.rotation import rotate_credential_key
    from facepay.keys.store import load_server_keys
    from payments.db import create_payments_engine

    keys = load_server_keys(settings)
    engine = create_payments_engine(
        settings.effective_database_url.render_as_string(hide_password=False)
    )
    try:
        report = rotate_credential_key(keys.secrets, engine)
    finally:
        engine.dispose()
    _say(
        f"card-credential key version {report.active_version} is active "
        f"(was {report.previous_version}); re-encrypted {report.rewrapped} stored credentials"
    )
    return 0


def cmd_keys_rotate_signing(args: argparse.Namespace, settings: Settings) -> int:
    from facepay.keys.rotation import rotate_signing

    rotation = rotate_signing(settings.keys_dir)
    _say(
        f"new signing key {rotation.fingerprint}; the old one "
        f"({rotation.previous_fingerprint}) is kept as {rotation.retired_as}.\n"
        "Restart the server. Cabinets pinned the old public key when they were provisioned: "
        "they refuse commands signed by the new key until they are provisioned again."
    )
    return 0


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from facepay.compliance.audit import verify_chain

    with open_database(settings.effective_database_url) as db, db.sessions() as session:
        report = verify_chain(session)
    if report.ok:
        _say(f"audit chain intact: {report.entries} entries")
        return 0
    print(f"audit chain broken at entry {report.broken_seq}: {report.reason}", file=sys.stderr)
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facepay", description="FacePay server: face-pay service and cabinet platform."
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (or FACEPAY_CONFIG_FILE)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API server (embedded defaults need nothing)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=cmd_serve)

    doctor = commands.add_parser("doctor", help="check settings, database, keys and model pack")
    doctor.add_argument("--json", action="store_true", help="machine-readable report")
    doctor.set_defaults(handler=cmd_doctor)

    db = commands.add_parser("db", help="database migrations").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    db.add_parser("upgrade", help="migrate the database to the newest schema").set_defaults(
        handler=cmd_db_upgrade
    )
    db.add_parser("current", help="show the schema revision (exit 1 if behind)").set_defaults(
        handler=cmd_db_current
    )

    keys = commands.add_parser("keys", help="server keys").add_subparsers(
        dest="keys_command", required=True, metavar="ACTION"
    )
    keys.add_parser(
        "init", help="create the KEK, the signing key and the secret store (never overwrites)"
    ).set_defaults(handler=cmd_keys_init)
    keys.add_parser(
        "rotate-kek", help="new KEK version; re-wrap every data key and stored secret"
    ).set_defaults(handler=cmd_keys_rotate)
    keys.add_parser(
        "migrate", help="give an older install its secret store (values kept as they were)"
    ).set_defaults(handler=cmd_keys_migrate)
    keys.add_parser(
        "rotate-credentials",
        help="new card-credential key version; re-encrypt every stored credential",
    ).set_defaults(handler=cmd_keys_rotate_credentials)
    keys.add_parser(
        "rotate-signing", help="new Ed25519 signing key; the old one is kept for the record"
    ).set_defaults(handler=cmd_keys_rotate_signing)

    audit = commands.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION"
    )
    audit.add_parser("verify", help="walk the hash chain; exit 1 at a broken entry").set_defaults(
        handler=cmd_audit_verify
    )
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(config_file=args.config)
        handler: Handler = args.handler
        return handler(args, settings)
    except FacePayError as exc:
        print(f"facepay: error: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"facepay: error: database: {first}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``cabinet-runtime``: run, provision, simulate, status."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from cabinet_runtime.config import CabinetSection, ConfigError, load_config
from cabinet_runtime.hardware.factory import HardwareConfigError
from cabinet_runtime.identity import IdentityError, IdentityStore, provision
from cabinet_runtime.outbox import Outbox
from cabinet_runtime.session_model import Lockout, SessionSnapshot, SessionState
from cabinet_runtime.store import LocalStore

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
DEFAULT_CONFIG = Path("cabinet.toml")


class Status(msgspec.Struct, kw_only=True):
    provisioned: bool
    cabinet_id: str | None
    gateway_url: str | None
    state_dir: str
    outbox_depth: int
    session_state: str
    session_id: str | None
    lockout: str | None


def read_status(state_dir: Path) -> Status:
    """The device's state from disk; works whether or not the runtime is running."""
    identities = IdentityStore(state_dir)
    cabinet_id = gateway = None
    provisioned = identities.is_provisioned()
    if provisioned:
        identity = identities.load()
        cabinet_id, gateway = identity.cabinet_id, identity.gateway_url
    depth = 0
    state, session_id, lockout = SessionState.IDLE, None, None
    if (state_dir / "outbox.db").exists():
        outbox = Outbox(state_dir / "outbox.db")
        depth = outbox.depth()
        outbox.close()
    if (state_dir / "state.db").exists():
        store = LocalStore(state_dir / "state.db")
        if (raw := store.get(LocalStore.SESSION_KEY)) is not None:
            snapshot = msgspec.json.decode(raw, type=SessionSnapshot)
            state, session_id = snapshot.state, snapshot.session_id
        if (raw := store.get(LocalStore.LOCKOUT_KEY)) is not None:
            lockout = msgspec.json.decode(raw, type=Lockout).reason
            state = SessionState.MAINTENANCE
        store.close()
    return Status(
        provisioned=provisioned,
        cabinet_id=cabinet_id,
        gateway_url=gateway,
        state_dir=str(state_dir),
        outbox_depth=depth,
        session_state=str(state),
        session_id=session_id,
        lockout=lockout,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cabinet-runtime", description="The FacePay cabinet runtime."
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the cabinet")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG)

    prov = commands.add_parser("provision", help="create the device key and register it")
    prov.add_argument("--server", required=True, help="the platform's base URL")
    prov.add_argument("--code", required=True, help="the one-time provisioning code")
    where = prov.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="cabinet.toml naming the state directory")
    where.add_argument("--state-dir", type=Path, help="where the identity is kept")

    sim = commands.add_parser("simulate", help="run recognition scenarios, no server needed")
    sim.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO.json")
    sim.add_argument("--json", action="store_true", help="print the report as JSON")

    status = commands.add_parser("status", help="print the device's state")
    where = status.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path)
    where.add_argument("--state-dir", type=Path)
    status.add_argument("--json", action="store_true")
    return parser


def _state_dir(args: argparse.Namespace) -> Path:
    if getattr(args, "state_dir", None) is not None:
        return Path(args.state_dir)
    config_path = args.config if args.config is not None else DEFAULT_CONFIG
    if args.config is None and not config_path.exists():
        return Path(CabinetSection().state_dir)  # the default, relative to here
    return load_config(config_path).state_dir


def _run(config_path: Path) -> int:
    from cabinet_runtime.runtime import CabinetRuntime, run_until_signalled

    config = load_config(config_path)
    runtime = CabinetRuntime(config)
    asyncio.run(run_until_signalled(runtime))
    return EXIT_OK


def _provision(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args)
    identity = provision(IdentityStore(state_dir), args.server, args.code)
    print(f"provisioned as cabinet {identity.cabinet_id}; gateway {identity.gateway_url}")
    print(f"device key: {IdentityStore(state_dir).key_path} (mode 0600)")
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    status = read_status(_state_dir(args))
    if args.json:
        print(msgspec.json.encode(status).decode())
        return EXIT_OK
    print(f"provisioned:   {'yes' if status.provisioned else 'no'}")
    print(f"cabinet id:    {status.cabinet_id or '-'}")
    print(f"gateway:       {status.gateway_url or '-'}")
    print(f"state dir:     {status.state_dir}")
    print(f"outbox depth:  {status.outbox_depth}")
    print(
        f"session state: {status.session_state}"
        + (f" ({status.session_id})" if status.session_id else "")
    )
    print(f"lockout:       {status.lockout or 'no'}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "run":
            return _run(args.config)
        if args.command == "provision":
            return _provision(args)
        if args.command == "simulate":
            from cabinet_runtime.simulate import simulate_command

            return simulate_command(list(args.scenarios), args.json)
        return _status(args)
    except (ConfigError, HardwareConfigError) as exc:
        print(f"cabinet-runtime: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except IdentityError as exc:
        print(f"cabinet-runtime: {exc}", file=sys.stderr)
        return EXIT_FAILED

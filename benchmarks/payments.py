"""Payments benchmark: hold+capture cycles through the sandbox processor, idempotent
replay cost, and ``verify_ledger`` time per million ledger entries.

    python benchmarks/payments.py --json /tmp/payments.json
    python benchmarks/payments.py --postgres postgresql://postgres@127.0.0.1:5432/postgres

Cycles run one after another on one thread (the server runs several in parallel;
this measures the per-purchase cost). "in-process" reaches the sandbox network
through ``httpx.ASGITransport``; "http" through uvicorn on a local port. PostgreSQL
runs when ``--postgres`` or FACEPAY_TEST_DATABASE_URL is given, in a database this
script creates and drops.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import secrets
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import _repo_path  # noqa: F401  (first: the package folders must win over this one)
import httpx
import uvicorn
from sqlalchemy import Engine, create_engine, insert, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from card_network.app import create_sandbox_app
from card_network.config import SandboxConfig, TokenRequestor
from card_network.network import SandboxNetwork
from payments.authorizations.service import AuthorizationService
from payments.db import create_payments_engine, payments_metadata, utcnow
from payments.ledger import AccountKind, LedgerAccount, LedgerTransfer, Phase
from payments.ledger import verify_ledger as run_verify
from payments.methods import CredentialCipher, PaymentMethodStore
from payments.money import Money
from payments.processors.sandbox import SandboxProcessor

Row = dict[str, Any]
REQUESTOR, API_KEY = "facepay-bench", "bench-key"


# --- databases -------------------------------------------------------------------


@contextmanager
def sqlite_db() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{tmp}/bench.db"


@contextmanager
def postgres_db(base: str) -> Iterator[str]:
    url = make_url(base).set(drivername="postgresql+psycopg")
    name = f"facepay_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fresh_engine(url: str) -> Engine:
    engine = create_payments_engine(url)
    payments_metadata().create_all(engine)
    return engine


# --- the sandbox network ------------------------------------------------------------


def sandbox() -> tuple[SandboxNetwork, Any]:
    config = SandboxConfig(requestors=(TokenRequestor(REQUESTOR, API_KEY),))
    network = SandboxNetwork(config)
    return network, create_sandbox_app(config, network)


@contextmanager
def served(app: Any) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def link_card(
    processor: SandboxProcessor, network: SandboxNetwork, methods: PaymentMethodStore, customer: str
) -> str:
    session = processor.begin_link(
        customer_ref=customer,
        return_url="https://bench.test/done",
        idempotency_key=uuid.uuid4().hex,
    )
    with network.lock:  # what the customer's browser does on the hosted page
        network.tsp.enroll(session.setup_ref, "4242424242424242", "12", "2031", "123")
    method = processor.complete_link(setup_ref=session.setup_ref, idempotency_key="c")
    return methods.save(customer, method)


# --- measurements -------------------------------------------------------------------


def timed(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


def cycles(db_label: str, url: str, transport: str, n: int) -> list[Row]:
    network, app = sandbox()
    engine = fresh_engine(url)

    def run(processor: SandboxProcessor) -> list[Row]:
        methods = PaymentMethodStore(engine, CredentialCipher(CredentialCipher.generate_key()))
        service = AuthorizationService(engine, {"sandbox": processor}, methods)
        pm = link_card(processor, network, methods, f"bench-{secrets.token_hex(4)}")

        def cycle() -> None:
            held = service.hold(
                payment_method_id=pm,
                amount=Money(1_500, "USD"),
                merchant_ref="bench",
                idempotency_key=uuid.uuid4().hex,
            )
            assert held.approved, held
            done = service.capture(
                authorization_id=held.authorization.id,
                amount=Money(1_200, "USD"),
                idempotency_key=uuid.uuid4().hex,
            )
            assert done.approved, done

        cycle()  # warm up connections and caches
        seconds = timed(cycle, n)
        key = uuid.uuid4().hex
        service.hold(
            payment_method_id=pm,
            amount=Money(100, "USD"),
            merchant_ref="bench",
            idempotency_key=key,
        )
        replay = timed(
            lambda: service.hold(
                payment_method_id=pm,
                amount=Money(100, "USD"),
                merchant_ref="bench",
                idempotency_key=key,
            ),
            n,
        )
        base = {"database": db_label, "transport": transport}
        return [
            {
                **base,
                "metric": "hold+capture",
                "n": n,
                "per_second": n / seconds,
                "ms_each": 1000 * seconds / n,
            },
            {
                **base,
                "metric": "idempotent replay (hold)",
                "n": n,
                "per_second": n / replay,
                "ms_each": 1000 * replay / n,
            },
        ]

    try:
        if transport == "in-process":
            processor = SandboxProcessor(
                base_url="http://sandbox",
                requestor_id=REQUESTOR,
                api_key=API_KEY,
                merchant_id="bench",
                transport=httpx.ASGITransport(app=app),
            )
            try:
                return run(processor)
            finally:
                processor.close()
        with served(app) as url_http:
            processor = SandboxProcessor(
                base_url=url_http, requestor_id=REQUESTOR, api_key=API_KEY, merchant_id="bench"
            )
            try:
                return run(processor)
            finally:
                processor.close()
    finally:
        engine.dispose()


def bulk_ledger(engine: Engine, entries: int, accounts: int = 1_000) -> int:
    """Insert ``entries`` transfers (singles, pendings, posts and voids) with matching
    materialised balances, in bulk. Returns the number of transfer rows."""
    now = utcnow()
    ids = [f"{AccountKind.CUSTOMER_PAYMENT_TOKEN.value}:bench-{i}:USD" for i in range(accounts)]
    balance = {i: [0, 0, 0, 0] for i in ids}  # debits_pending, debits_posted, credits_...
    with engine.begin() as conn:
        conn.execute(
            insert(LedgerAccount),
            [
                {
                    "id": i,
                    "kind": AccountKind.CUSTOMER_PAYMENT_TOKEN.value,
                    "owner_ref": i,
                    "currency": "USD",
                    "flags": 0,
                    "debits_pending": 0,
                    "debits_posted": 0,
                    "credits_pending": 0,
                    "credits_posted": 0,
                    "created_at": now,
                }
                for i in ids
            ],
        )
    rng = secrets.SystemRandom()
    rows: list[Row] = []
    written = 0

    def flush() -> None:
        nonlocal written
        if rows:
            with engine.begin() as conn:
                conn.execute(insert(LedgerTransfer), rows)
            written += len(rows)
            rows.clear()

    n = 0
    while n < entries:
        dr, cr = rng.sample(ids, 2)
        amount = rng.randint(1, 10_000)
        base = {
            "debit_account_id": dr,
            "credit_account_id": cr,
            "currency": "USD",
            "timeout_at": None,
            "code": "bench",
            "reference": "",
            "created_at": now,
        }
        if n % 4 == 0 or entries - n < 2:
            rows.append(
                {
                    **base,
                    "id": f"t{n}",
                    "amount": amount,
                    "phase": Phase.SINGLE.value,
                    "pending_id": None,
                }
            )
            balance[dr][1] += amount
            balance[cr][3] += amount
            n += 1
        else:
            rows.append(
                {
                    **base,
                    "id": f"t{n}",
                    "amount": amount,
                    "phase": Phase.PENDING.value,
                    "pending_id": None,
                }
            )
            if n % 10 == 1:  # some holds stay open
                balance[dr][0] += amount
                balance[cr][2] += amount
                n += 1
                continue
            post = n % 3 != 0
            posted = rng.randint(0, amount) if post else 0
            rows.append(
                {
                    **base,
                    "id": f"t{n + 1}",
                    "amount": posted,
                    "phase": (Phase.POST if post else Phase.VOID).value,
                    "pending_id": f"t{n}",
                }
            )
            balance[dr][1] += posted
            balance[cr][3] += posted
            n += 2
        if len(rows) >= 20_000:
            flush()
    flush()
    with Session(engine) as session, session.begin():  # ORM bulk update by primary key
        session.execute(
            update(LedgerAccount),
            [
                {
                    "id": i,
                    "debits_pending": b[0],
                    "debits_posted": b[1],
                    "credits_pending": b[2],
                    "credits_posted": b[3],
                }
                for i, b in balance.items()
            ],
        )
    return written


def verify(db_label: str, url: str, entries: int) -> Row:
    engine = fresh_engine(url)
    try:
        start = time.perf_counter()
        written = bulk_ledger(engine, entries)
        load = time.perf_counter() - start
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        start = time.perf_counter()
        report = run_verify(engine)
        seconds = time.perf_counter() - start
        assert report.ok, report.problems[:5]
        assert report.transfers_checked == written
        return {
            "database": db_label,
            "transport": "-",
            "metric": "verify_ledger",
            "n": written,
            "seconds": seconds,
            "seconds_per_million": seconds * 1e6 / written,
            "bulk_load_seconds": load,
        }
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--verify-entries", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=os.environ.get("FACEPAY_TEST_DATABASE_URL"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    databases: list[tuple[str, Callable[[], Any]]] = [("sqlite", sqlite_db)]
    if args.postgres:
        databases.append(("postgresql", lambda: postgres_db(args.postgres)))
    rows: list[Row] = []
    for label, make in databases:
        for transport in ("in-process", "http"):
            with make() as url:
                rows.extend(cycles(label, url, transport, args.cycles))
        with make() as url:
            rows.append(verify(label, url, args.verify_entries))
    print(f"{'database':<11} {'transport':<11} {'metric':<26} {'n':>9} {'result':>22}")
    for r in rows:
        if "per_second" in r:
            result = f"{r['per_second']:8.1f}/s {r['ms_each']:7.2f} ms"
        else:
            result = f"{r['seconds_per_million']:8.2f} s per 1M"
        print(
            f"{r['database']:<11} {r['transport']:<11} {r['metric']:<26} {r['n']:>9} {result:>22}"
        )
    meta = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "when": utcnow().isoformat(),
    }
    print(f"nproc={meta['nproc']} python={meta['python']}")
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`facepay demo`: the whole purchase loop on embedded defaults, in one command.

It starts the server (with the sandbox card network mounted) on a free local
port, opens a shop with one cabinet, signs customers up from real face photos
shipped with the installed packages, provisions a simulated cabinet running
the real cabinet runtime, and runs visits over the real WebSocket link. It
prints what happened and exits non-zero when any visit ends differently from
the script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from api.app import create_app
from biometrics.engine import FaceEngine
from facepay.bootstrap import Services
from facepay.checkout.models import PurchaseSession, Receipt, SessionLine
from facepay.db.engine import open_database
from facepay.db.migrate import upgrade
from facepay.keys.store import init_keys
from facepay.settings import Settings
from facepay_demo.catalog import CURRENCY, PRICES
from facepay_demo.faces import demo_faces
from facepay_demo.rig import build_rig, provision_cabinet
from facepay_demo.script import CAST, ScriptedVisit, visits
from facepay_demo.server import BackgroundServer, free_port
from facepay_demo.shop import DemoCustomer, open_shop, sign_up
from facepay_demo.visits import Observed, run_visit
from payments.debt import Debt
from payments.ledger.verify import verify_ledger

Say = Callable[[str], None]


@dataclass
class VisitReport:
    name: str
    customer: str
    auth_method: str
    decision: str
    step_up: bool
    reason: str
    basket: dict[str, int]
    amount: int
    charged: int
    debt: int
    currency: str
    receipt_id: str | None
    latency_ms: dict[str, float | None]
    problems: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "auth_method": self.auth_method,
            "decision": self.decision,
            "basket": self.basket,
            "amount": self.amount,
            "currency": self.currency,
            "receipt_id": self.receipt_id,
            "latency_ms": self.latency_ms,
            "name": self.name,
            "step_up": self.step_up,
            "charged": self.charged,
            "debt": self.debt,
            "reason": self.reason,
            "as_expected": not self.problems,
            "problems": self.problems,
        }


def _server_facts(services: Services, cabinet_id: str, session_id: str | None) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "basket": {},
        "amount": 0,
        "charged": 0,
        "receipt_id": None,
        "reason": "",
    }
    if session_id is None:
        return facts
    with services.sessions() as session:
        purchase = session.scalar(
            select(PurchaseSession).where(
                PurchaseSession.cabinet_id == cabinet_id,
                PurchaseSession.cabinet_session_id == session_id,
            )
        )
        if purchase is None:
            return facts
        lines = list(
            session.scalars(select(SessionLine).where(SessionLine.session_id == purchase.id))
        )
        facts["basket"] = {line.sku: line.quantity for line in lines}
        facts["amount"] = sum(line.quantity * line.unit_price for line in lines)
        facts["charged"] = purchase.captured_amount
        facts["reason"] = purchase.denial_reason or ""
        facts["receipt_id"] = session.scalar(
            select(Receipt.id).where(Receipt.session_id == purchase.id)
        )
        facts["customer_id"] = purchase.customer_id
    return facts


def _debt(services: Services, customer_id: str | None) -> int:
    if customer_id is None:
        return 0
    with services.payments.engine.connect() as connection:
        amounts = connection.execute(
            select(Debt.amount).where(Debt.customer_ref == customer_id, Debt.status == "open")
        ).scalars()
        return sum(amounts)


def _check(scripted: ScriptedVisit, report: VisitReport) -> list[str]:
    expected, problems = scripted.expected, []
    if report.decision != expected.decision:
        problems.append(f"decision {report.decision}, expected {expected.decision}")
    if report.basket != expected.basket:
        problems.append(f"basket {report.basket}, expected {expected.basket}")
    if report.amount != expected.amount:
        problems.append(f"amount {report.amount}, expected {expected.amount}")
    if report.charged != expected.charged:
        problems.append(f"charged {report.charged}, expected {expected.charged}")
    if report.debt != expected.debt:
        problems.append(f"debt {report.debt}, expected {expected.debt}")
    if report.step_up != expected.step_up:
        problems.append(f"step-up {report.step_up}, expected {expected.step_up}")
    return problems


def _report(
    services: Services,
    cabinet_id: str,
    scripted: ScriptedVisit,
    observed: Observed,
    people: dict[str, DemoCustomer],
    debt_before: int,
) -> VisitReport:
    facts = _server_facts(services, cabinet_id, observed.session_id)
    person = people.get(scripted.visit.customer)
    debt_now = _debt(services, person.customer_id if person else None)
    latency: dict[str, float | None] = {
        "identify": observed.latency_ms.get("face_to_unlock"),
        "unlock": observed.latency_ms.get("face_to_unlock"),
        "settle": observed.latency_ms.get("close_to_receipt"),
    }
    report = VisitReport(
        name=scripted.visit.name,
        customer=scripted.visit.customer,
        auth_method=scripted.visit.auth,
        decision=observed.decision,
        step_up=observed.step_up,
        reason=facts["reason"] or (observed.message if observed.decision == "deny" else ""),
        basket=facts["basket"],
        amount=facts["amount"],
        charged=facts["charged"],
        debt=debt_now - debt_before,
        currency=CURRENCY,
        receipt_id=facts["receipt_id"],
        latency_ms=latency,
        problems=[],
    )
    report.problems = _check(scripted, report)
    return report


async def run_demo(data_dir: Path, say: Say) -> tuple[list[VisitReport], bool]:
    settings = Settings(data_dir=data_dir, port=free_port())
    init_keys(settings.keys_dir)
    with open_database(settings.effective_database_url) as db:
        upgrade(db.engine)
    app = create_app(settings)
    services: Services = app.state.services
    server = BackgroundServer(app, settings.port)
    server.start()
    say(f"server on {server.url} (data in {data_dir})")
    rig = None
    try:
        engine = await asyncio.to_thread(FaceEngine.load)
        faces = await asyncio.to_thread(demo_faces, engine)
        shop = open_shop(services)
        say(f"shop open: site {shop.site_id[:8]}, cabinet {shop.cabinet_id[:8]}")
        people: dict[str, DemoCustomer] = {}
        for member in CAST:
            face = faces[member.face] if member.face else None
            people[member.role] = await sign_up(
                services, shop.site_id, member.role, member.phone, member.card, face
            )
            say(f"signed up {member.role} ({'face + ' if face else ''}card *{member.card[-4:]})")
        state_dir = data_dir / "cabinet"
        state_dir.mkdir()
        await asyncio.to_thread(provision_cabinet, state_dir, server.url, shop.provisioning_code)
        rig = build_rig(state_dir)
        await rig.start()
        say("cabinet provisioned and connected")
        reports = []
        for scripted in visits(services.customers.qr, faces, people):
            person = people.get(scripted.visit.customer)
            debt_before = _debt(services, person.customer_id if person else None)
            observed = await run_visit(rig, scripted.visit)
            report = _report(services, shop.cabinet_id, scripted, observed, people, debt_before)
            reports.append(report)
            say(
                f"visit: {report.name}: {report.decision}"
                + (" (as expected)" if not report.problems else f" — {report.problems}")
            )
        balanced = verify_ledger(services.payments.engine).ok
        return reports, balanced
    finally:
        if rig is not None:
            await rig.stop()
        server.stop()  # its shutdown closes the services


def _money(amount: int) -> str:
    return f"{amount:,} {CURRENCY}"


def render_table(reports: list[VisitReport], balanced: bool) -> str:
    rows = [
        (
            "visit",
            "customer",
            "auth",
            "decision",
            "basket",
            "amount",
            "charged",
            "debt",
            "unlock ms",
            "receipt ms",
        )
    ]
    for r in reports:
        basket = ", ".join(f"{sku} x{qty}" for sku, qty in r.basket.items()) or "-"
        decision = r.decision + (" (step-up)" if r.step_up else "")
        unlock, settle = r.latency_ms["unlock"], r.latency_ms["settle"]
        rows.append(
            (
                r.name,
                r.customer,
                r.auth_method,
                decision,
                basket,
                _money(r.amount),
                _money(r.charged),
                _money(r.debt) if r.debt else "-",
                f"{unlock:.0f}" if unlock is not None else "-",
                f"{settle:.0f}" if settle is not None else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    for r in reports:
        if r.decision == "deny":
            lines.append(f"{r.name}: refused — {r.reason}")
        elif r.receipt_id:
            lines.append(f"receipt {r.receipt_id[:10]}… for {r.customer} (/r/{r.receipt_id}):")
            lines += [
                f"    {sku} x{qty}".ljust(30) + _money(PRICES[sku] * qty).rjust(12)
                for sku, qty in r.basket.items()
            ]
            lines.append("    total".ljust(30) + _money(r.amount).rjust(12))
            if r.debt:
                lines.append(f"    charged {_money(r.charged)}; {_money(r.debt)} owed (open debt)")
    lines.append("")
    lines.append(f"ledger balanced: {'yes' if balanced else 'NO'}")
    failed = [r for r in reports if r.problems]
    lines.append(
        "every visit ended as the script expects"
        if not failed
        else f"{len(failed)} visit(s) ended differently"
    )
    return "\n".join(lines)


def _sentence(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if text.endswith(".") else text + "."


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    for noisy in ("httpx", "facepay", "api", "cabinet_runtime", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    say: Say = (lambda _m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    with tempfile.TemporaryDirectory(prefix="facepay-demo-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            reports, balanced = asyncio.run(run_demo(data_dir, say))
        except Exception as exc:  # a newcomer gets a sentence; --debug keeps the traceback
            if args.debug:
                raise
            print(f"facepay demo: could not finish: {_sentence(exc)}", file=sys.stderr)
            return 1
    if args.json:
        print(
            json.dumps(
                {"visits": [r.as_json() for r in reports], "ledger_balanced": balanced}, indent=2
            )
        )
    else:
        print(render_table(reports, balanced))
    ok = balanced and not any(r.problems for r in reports)
    return 0 if ok else 1


def register(commands: Any) -> None:
    demo = commands.add_parser(
        "demo", help="run the whole purchase loop: server, simulated cabinet, customers, visits"
    )
    demo.add_argument("--json", action="store_true", help="machine-readable report")
    demo.add_argument(
        "--data-dir", type=Path, help="keep the demo's data here (default: temporary)"
    )
    demo.add_argument(
        "--debug", action="store_true", help="on failure, show the traceback, not one sentence"
    )
    demo.set_defaults(handler=cmd_demo)

"""`facepay cabinets ...`: set up sites, cabinets, provisioning codes, planograms."""

from __future__ import annotations

import argparse
import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from facepay.cabinets.service import (
    LaneSpec,
    create_cabinet,
    create_site,
    issue_provisioning_code,
    set_planogram,
)
from facepay.catalog.products import ProductSpec, upsert_products
from facepay.db.engine import Database, open_database
from facepay.errors import ValidationError
from facepay.settings import Settings


def _database(settings: Settings) -> AbstractContextManager[Database]:
    return open_database(settings.effective_database_url)


def _site(args: argparse.Namespace, settings: Settings) -> int:
    enabled = settings.processors.enabled
    if args.processor is not None and args.processor not in enabled:
        raise ValidationError(
            f"--processor {args.processor!r} is not an enabled processor "
            f"(enabled: {', '.join(enabled)}; see FACEPAY_PROCESSORS)"
        )
    with _database(settings) as db, db.sessions.begin() as session:
        site = create_site(
            session,
            args.name,
            args.currency,
            default_processor=args.processor,
            max_basket_amount=args.max_basket,
        )
        print(site.id)
    return 0


def _cabinet(args: argparse.Namespace, settings: Settings) -> int:
    with _database(settings) as db:
        with db.sessions.begin() as session:
            cabinet = create_cabinet(session, args.site, args.name, args.hold)
            code = issue_provisioning_code(session, cabinet.id)
        print(f"cabinet {cabinet.id}\nprovisioning code {code} (valid 24 h, one use)")
    return 0


def _code(args: argparse.Namespace, settings: Settings) -> int:
    with _database(settings) as db, db.sessions.begin() as session:
        print(issue_provisioning_code(session, args.cabinet))
    return 0


def load_planogram(path: Path) -> tuple[list[ProductSpec], list[LaneSpec], str]:
    """Read the planogram part of a cabinet scenario/config JSON file."""
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        currency = document["currency"]
        products = [
            ProductSpec(
                sku=p["sku"],
                name=p["name"],
                price=int(p["price"]),
                currency=currency,
                unit_weight_g=float(p["unit_weight_g"]),
                weight_tolerance_g=float(p["weight_tolerance_g"]),
                image=p.get("image"),
            )
            for p in document["products"]
        ]
        lanes = [
            LaneSpec(
                shelf_id=shelf["id"], lane_id=lane["id"], sku=lane["sku"], count=int(lane["count"])
            )
            for shelf in document["shelves"]
            for lane in shelf["lanes"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValidationError(f"{path}: not a planogram file ({exc})") from exc
    return products, lanes, currency


def _planogram(args: argparse.Namespace, settings: Settings) -> int:
    products, lanes, _ = load_planogram(args.file)
    with _database(settings) as db, db.sessions.begin() as session:
        upsert_products(session, products)
        planogram = set_planogram(session, args.cabinet, lanes)
        print(f"planogram v{planogram.version}: {len(lanes)} lanes, {len(products)} products")
    return 0


def register(commands: Any) -> None:
    cabinets = commands.add_parser("cabinets", help="sites, cabinets, provisioning, planograms")
    actions = cabinets.add_subparsers(dest="cabinets_command", required=True, metavar="ACTION")
    site = actions.add_parser("create-site", help="a site; its customers form one matcher cohort")
    site.add_argument("name")
    site.add_argument("--currency", default="KRW")
    site.add_argument(
        "--processor", help="the processor that links this site's cards (default: the server's)"
    )
    site.add_argument(
        "--max-basket",
        type=int,
        default=None,
        metavar="N",
        help="most one visit may be charged, minor units (default: about 500,000 KRW)",
    )
    site.set_defaults(handler=_site)
    cabinet = actions.add_parser("create", help="a cabinet at a site, with a provisioning code")
    cabinet.add_argument("--site", required=True)
    cabinet.add_argument("--name", required=True)
    cabinet.add_argument("--hold", type=int, required=True, help="hold per visit, minor units")
    cabinet.set_defaults(handler=_cabinet)
    code = actions.add_parser("provisioning-code", help="a new one-time provisioning code")
    code.add_argument("cabinet")
    code.set_defaults(handler=_code)
    plan = actions.add_parser("planogram", help="products and lanes from a JSON file")
    plan.add_argument("cabinet")
    plan.add_argument("file", type=Path)
    plan.set_defaults(handler=_planogram)

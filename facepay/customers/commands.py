"""`facepay customers ...`: sign-up, phone verification, consent and enrollment for operators
and the demo, with the same services (and the same rules) as the mobile pages."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from biometrics.images import DEFAULT_LIMITS
from facepay.bootstrap import open_services
from facepay.compliance.consent import BIOMETRIC, LANGUAGES, seed_default_notices
from facepay.customers.services import CustomerServices
from facepay.errors import ValidationError
from facepay.settings import Settings

Action = Callable[[argparse.Namespace, CustomerServices], int]


def _with_services(action: Action) -> Callable[[argparse.Namespace, Settings], int]:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        with open_services(settings) as services:
            return action(args, services.customers)

    return handler


def _create(args: argparse.Namespace, services: CustomerServices) -> int:
    created = services.accounts.create(args.phone, display_name=args.name, site_ids=args.site or ())
    print(f"customer {created.customer_id}\nphone {created.phone_e164}")
    print(f"verification {created.verification_id} (code sent by SMS; valid 5 minutes)")
    return 0


def _verify(args: argparse.Namespace, services: CustomerServices) -> int:
    verified = services.phones.verify(args.verification, args.code)
    print(f"phone {verified.phone_e164} verified for customer {verified.customer_id}")
    return 0


def _consent(args: argparse.Namespace, services: CustomerServices) -> int:
    notice = services.consents.notice(args.kind, args.language)
    if args.show:
        print(notice.text)
    recorded = services.consents.decide(args.customer, notice.id, args.decision, channel="cli")
    print(f"{args.kind} notice v{notice.version}: {args.decision} (record {recorded.record_id})")
    return 0


def _read_images(paths: list[Path]) -> list[bytes]:
    images = []
    for path in paths:
        try:
            if path.stat().st_size > DEFAULT_LIMITS.max_bytes:
                raise ValidationError(f"{path} is larger than {DEFAULT_LIMITS.max_bytes} bytes")
            images.append(path.read_bytes())
        except OSError as exc:
            raise ValidationError(f"cannot read {path}: {exc.strerror}") from exc
    return images


def _enroll(args: argparse.Namespace, services: CustomerServices) -> int:
    images = _read_images(args.images)
    receipt = asyncio.run(services.enrollment.enroll(args.customer, images))
    print(f"face enrolled for {receipt.customer_id} from images {list(receipt.images_used)}")
    for index, reasons in sorted(receipt.image_reasons.items()):
        print(f"  skipped {args.images[index]}: {', '.join(reasons)}")
    return 0


def _join(args: argparse.Namespace, services: CustomerServices) -> int:
    services.accounts.join_sites(args.customer, args.site)
    print(f"customer {args.customer} is in sites {', '.join(args.site)}")
    return 0


def _list(args: argparse.Namespace, services: CustomerServices) -> int:
    profiles = services.accounts.list_customers(include_deleted=args.all)
    if args.json:
        print(json.dumps(msgspec.to_builtins(profiles), indent=2))
        return 0
    for p in profiles:
        face = "face" if p.face_enrolled else "no face"
        cards = ", ".join(p.payment_methods) or "no card"
        print(
            f"{p.id}  {p.phone_masked or '-':>15}  {p.status:<7}  {face:<7}  "
            f"consent={p.biometric_consent or '-':<9}  sites={len(p.sites)}  {cards}"
        )
    return 0


def _delete(args: argparse.Namespace, services: CustomerServices) -> int:
    certificate = services.accounts.delete(args.customer, actor=f"operator:{args.by}")
    print(certificate.body)
    print(f"signature {certificate.signature}")
    return 0


def _seed(args: argparse.Namespace, services: CustomerServices) -> int:
    with services.accounts.sessions.begin() as session:
        added = seed_default_notices(session)
    print(f"{added} notices published")
    return 0


def register(commands: Any) -> None:
    customers = commands.add_parser("customers", help="customers, consent and face enrollment")
    actions = customers.add_subparsers(dest="customers_command", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="a customer with a phone; sends a code")
    create.add_argument("--phone", required=True, help="E.164 (+8210...) or Korean national")
    create.add_argument("--name")
    create.add_argument("--site", action="append", help="site id to join (repeatable)")
    create.set_defaults(handler=_with_services(_create))

    verify = actions.add_parser("verify-phone", help="check the code the customer received")
    verify.add_argument("--verification", required=True)
    verify.add_argument("--code", required=True)
    verify.set_defaults(handler=_with_services(_verify))

    consent = actions.add_parser("consent", help="record a consent decision")
    consent.add_argument("customer")
    consent.add_argument("--decision", choices=["granted", "refused", "withdrawn"], required=True)
    consent.add_argument("--kind", default=BIOMETRIC, choices=[BIOMETRIC, "terms"])
    consent.add_argument("--language", default="ko", choices=LANGUAGES)
    consent.add_argument("--show", action="store_true", help="print the notice text first")
    consent.set_defaults(handler=_with_services(_consent))

    enroll = actions.add_parser("enroll", help="enroll the face from 3-8 photos (not kept)")
    enroll.add_argument("customer")
    enroll.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    enroll.set_defaults(handler=_with_services(_enroll))

    join = actions.add_parser("join-site", help="add the customer to sites' cohorts")
    join.add_argument("customer")
    join.add_argument("site", nargs="+")
    join.set_defaults(handler=_with_services(_join))

    listing = actions.add_parser("list", help="list customers")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--all", action="store_true", help="include deleted customers")
    listing.set_defaults(handler=_with_services(_list))

    delete = actions.add_parser("delete", help="delete the customer's data (crypto-shred)")
    delete.add_argument("customer")
    delete.add_argument("--by", required=True, help="who asked for it (operator name)")
    delete.set_defaults(handler=_with_services(_delete))

    seed = actions.add_parser("seed-notices", help="publish the default consent notices")
    seed.set_defaults(handler=_with_services(_seed))

"""Receipts: a public page by unguessable id, and the same as JSON."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
from anyio import to_thread
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.orm import Session, sessionmaker

from facepay.checkout.receipts import ReceiptView, receipt_view
from payments.money import Money

# A receipt by id (NotFoundError when there is none); blocking.
ReceiptLookup = Callable[[str], ReceiptView]

_PAGE = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True),
).get_template("receipt.html")


def receipt_lookup(sessions: sessionmaker[Session]) -> ReceiptLookup:
    """Receipts read from the server's database."""

    def lookup(receipt_id: str) -> ReceiptView:
        with sessions() as session:
            return receipt_view(session, receipt_id)

    return lookup


class ReceiptLineOut(msgspec.Struct):
    sku: str
    quantity: int
    unit_price: int
    amount: int


class ReceiptOut(msgspec.Struct):
    id: str
    issued_at: str
    cabinet_id: str
    currency: str
    total: int
    lines: list[ReceiptLineOut]
    review_pending: bool


@get("/r/{receipt_id:str}", media_type="text/html", tags=["receipts"], include_in_schema=False)
async def receipt_page(
    receipt_reader: NamedDependency[ReceiptLookup], receipt_id: FromPath[str]
) -> Response[str]:
    view = await to_thread.run_sync(receipt_reader, receipt_id)
    page = _PAGE.render(
        issued=view.issued_at.strftime("%Y-%m-%d %H:%M UTC"),
        cabinet=view.cabinet_id[:8],
        lines=[
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "amount": Money(line.amount, view.currency),
            }
            for line in view.lines
        ],
        total=Money(view.total, view.currency),
        review=view.review_pending,
    )
    # The id is the secret: never cached by shared caches, never leaked as a referrer.
    return Response(page, headers={"Cache-Control": "private, no-store"})


@get("/v1/receipts/{receipt_id:str}", tags=["receipts"])
async def receipt_json(
    receipt_reader: NamedDependency[ReceiptLookup], receipt_id: FromPath[str]
) -> ReceiptOut:
    view = await to_thread.run_sync(receipt_reader, receipt_id)
    return ReceiptOut(
        id=view.id,
        issued_at=view.issued_at.isoformat(),
        cabinet_id=view.cabinet_id,
        currency=view.currency,
        total=view.total,
        lines=[ReceiptLineOut(x.sku, x.quantity, x.unit_price, x.amount) for x in view.lines],
        review_pending=view.review_pending,
    )

"""Receipts: a public page by unguessable id, and the same as JSON."""

from __future__ import annotations

from pathlib import Path

import msgspec
from anyio import to_thread
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Response, get
from litestar.datastructures import State
from litestar.params import FromPath

from facepay.checkout.receipts import ReceiptView, receipt_view
from facepay.platform import Platform
from payments.money import Money

_PAGE = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True),
).get_template("receipt.html")


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


async def _load(state: State, receipt_id: str) -> ReceiptView:
    platform: Platform = state.platform

    def read() -> ReceiptView:
        with platform.sessions() as session:
            return receipt_view(session, receipt_id)

    return await to_thread.run_sync(read)


@get("/r/{receipt_id:str}", media_type="text/html", tags=["receipts"], include_in_schema=False)
async def receipt_page(state: State, receipt_id: FromPath[str]) -> Response[str]:
    view = await _load(state, receipt_id)
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
async def receipt_json(state: State, receipt_id: FromPath[str]) -> ReceiptOut:
    view = await _load(state, receipt_id)
    return ReceiptOut(
        id=view.id,
        issued_at=view.issued_at.isoformat(),
        cabinet_id=view.cabinet_id,
        currency=view.currency,
        total=view.total,
        lines=[ReceiptLineOut(x.sku, x.quantity, x.unit_price, x.amount) for x in view.lines],
        review_pending=view.review_pending,
    )

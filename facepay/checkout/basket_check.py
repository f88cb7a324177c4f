"""Is a basket a cabinet reports possible? Checked against what the server knows.

A cabinet's basket is a claim. Before anything is charged it must name SKUs the
catalogue sells in the cabinet's currency, lanes of the cabinet's active
planogram, each lane's own SKU, no more than the server's stock of that lane,
and, priced from the catalogue (never from the cabinet), no more than the
site's maximum basket. A basket that fails any of these goes to review with the
reasons; it is never charged blindly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cabinet_runtime.protocol import BasketLine
from facepay.cabinets.models import Cabinet, Planogram, PlanogramLane
from facepay.catalog.models import InventoryLevel, Product
from facepay.customers.models import Site
from payments.money import MAX_MINOR_UNITS, Money

ProblemCode = Literal[
    "unknown_sku", "unknown_lane", "wrong_sku", "above_stock", "above_site_maximum"
]
MAX_REASON_CHARS = 500  # the width of PurchaseSession.review_reason


@dataclass(frozen=True)
class BasketProblem:
    code: ProblemCode
    detail: str


@dataclass(frozen=True)
class BasketVerdict:
    problems: tuple[BasketProblem, ...]
    total: int  # catalogue prices of the lines the catalogue knows, minor units
    currency: str

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        """Every problem in one sentence, clipped to what the review column holds."""
        text = "; ".join(problem.detail for problem in self.problems)
        return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


def _active_lanes(session: Session, cabinet_id: str) -> dict[str, str]:
    """lane id -> the SKU it holds, in the cabinet's active planogram."""
    rows = session.execute(
        select(PlanogramLane.lane_id, PlanogramLane.sku)
        .join(Planogram, Planogram.id == PlanogramLane.planogram_id)
        .where(Planogram.cabinet_id == cabinet_id, Planogram.active.is_(True))
    ).all()
    return {lane_id: sku for lane_id, sku in rows}


def _stock(session: Session, cabinet_id: str) -> dict[str, int]:
    rows = session.execute(
        select(InventoryLevel.lane_id, InventoryLevel.quantity).where(
            InventoryLevel.cabinet_id == cabinet_id
        )
    ).all()
    return {lane_id: quantity for lane_id, quantity in rows}


def _amount(minor: int, currency: str) -> str:
    if minor > MAX_MINOR_UNITS:  # catalogue prices times quantities can pass int64
        return f"{minor} minor units of {currency}"
    return str(Money(minor, currency))


def check_basket(session: Session, cabinet_id: str, lines: Sequence[BasketLine]) -> BasketVerdict:
    """The verdict on ``lines`` reported by ``cabinet_id``. Reads only; changes nothing."""
    cabinet = session.get(Cabinet, cabinet_id)
    if cabinet is None:
        raise ValueError(f"cabinet {cabinet_id} does not exist")
    site = session.get(Site, cabinet.site_id)
    assert site is not None  # a cabinet's site is a foreign key
    lanes = _active_lanes(session, cabinet_id)
    stock = _stock(session, cabinet_id)
    taken: Counter[tuple[str, str]] = Counter()
    for line in lines:  # one SKU may come in several lines of a lane: judge the sum
        taken[(line.lane, line.sku)] += line.qty
    problems: list[BasketProblem] = []
    total = 0
    for (lane, sku), qty in sorted(taken.items()):
        product = session.get(Product, sku)
        if product is None or product.currency != cabinet.currency:
            problems.append(BasketProblem("unknown_sku", f"unknown SKU {sku!r}"))
        else:
            total += qty * product.price_amount
        if lane not in lanes:
            problems.append(
                BasketProblem("unknown_lane", f"lane {lane!r} is not in the cabinet's planogram")
            )
        elif lanes[lane] != sku:
            problems.append(
                BasketProblem("wrong_sku", f"lane {lane!r} holds {lanes[lane]!r}, not {sku!r}")
            )
        elif qty > stock.get(lane, 0):
            problems.append(
                BasketProblem(
                    "above_stock",
                    f"{qty} x {sku!r} from lane {lane!r}, which holds {stock.get(lane, 0)}",
                )
            )
    if total > site.max_basket_amount:
        problems.append(
            BasketProblem(
                "above_site_maximum",
                f"basket of {_amount(total, cabinet.currency)} is above the site's maximum of "
                f"{_amount(site.max_basket_amount, cabinet.currency)}",
            )
        )
    return BasketVerdict(tuple(problems), total, cabinet.currency)

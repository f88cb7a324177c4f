"""The demo's cast and its visits, with the outcome each one must have."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cabinet_runtime.identification import encode_qr
from facepay.customers.qr import QrTokens
from facepay_demo.catalog import PRICES
from facepay_demo.faces import DemoFace
from facepay_demo.shop import DemoCustomer
from facepay_demo.visits import Pick, Visit

APPROVING_CARD = "4242424242424242"
LIMITED_CARD = "4000000000003410"  # a credit limit of 5,000 KRW


@dataclass(frozen=True)
class Member:
    role: str
    phone: str
    card: str
    face: str | None  # key into demo_faces(); None: QR only


CAST = (
    Member("minji", "+82 10-2345-1001", APPROVING_CARD, "minji"),
    Member("jisoo", "+82 10-2345-1002", APPROVING_CARD, None),
    Member("seojun", "+82 10-2345-1003", APPROVING_CARD, "seojun"),
    Member("yao", "+82 10-2345-1004", APPROVING_CARD, "yao"),
    Member("yao_twin", "+82 10-2345-1005", APPROVING_CARD, "yao_twin"),
    Member("hyunwoo", "+82 10-2345-1006", LIMITED_CARD, "hyunwoo"),
)


@dataclass(frozen=True)
class Expected:
    decision: str
    basket: dict[str, int]
    charged: int  # what the card paid
    debt: int = 0
    step_up: bool = False

    @property
    def amount(self) -> int:
        return sum(PRICES[sku] * qty for sku, qty in self.basket.items())


@dataclass(frozen=True)
class ScriptedVisit:
    visit: Visit
    expected: Expected


def _take(lane: str, qty: int = 1) -> Pick:
    return Pick("take", lane, qty)


def visits(
    qr_tokens: QrTokens, faces: dict[str, DemoFace], people: dict[str, DemoCustomer]
) -> Iterator[ScriptedVisit]:
    """One by one, as they are run: the QR visit's token is valid for 30 seconds, so it is
    issued when that visit's turn comes, not when the script starts."""
    frames = {
        role: face.front_frames(4, seed=100 + i) for i, (role, face) in enumerate(faces.items())
    }
    yield ScriptedVisit(
        Visit(
            "face unlock, three items",
            "minji",
            "face",
            frames["minji"],
            [_take("top-1", 2), _take("bottom-1")],
        ),
        Expected("approve", {"cola-355": 2, "bar-choco": 1}, 5500),
    )
    qr = encode_qr(qr_tokens.issue(people["jisoo"].customer_id), size_px=360)
    yield ScriptedVisit(
        Visit("QR code unlock", "jisoo", "qr", [qr], [_take("top-2")]),
        Expected("approve", {"water-500": 1}, 1000),
    )
    yield from [
        ScriptedVisit(
            Visit(
                "twins: step-up by phone digits",
                "yao",
                "face",
                frames["yao"],
                [_take("bottom-2")],
                digits=people["yao"].last4,
            ),
            Expected("approve", {"kimbap": 1}, 3500, step_up=True),
        ),
        ScriptedVisit(
            Visit("unknown face", "(not enrolled)", "face", frames["stranger"]),
            Expected("deny", {}, 0),
        ),
        ScriptedVisit(
            Visit(
                "card declined above the hold: debt",
                "hyunwoo",
                "face",
                frames["hyunwoo"],
                [_take("bottom-2", 2)],
            ),
            Expected("approve", {"kimbap": 2}, 5000, debt=2000),
        ),
        ScriptedVisit(
            Visit("open debt refuses the next visit", "hyunwoo", "face", frames["hyunwoo"]),
            Expected("deny", {}, 0),
        ),
        ScriptedVisit(
            Visit(
                "put one back",
                "seojun",
                "face",
                frames["seojun"],
                [_take("top-1", 2), Pick("put", "top-1", 1, "cola-355")],
            ),
            Expected("approve", {"cola-355": 1}, 1500),
        ),
    ]

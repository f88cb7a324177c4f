"""The server's check of a reported basket, against its own planogram, stock, catalogue
and the site's maximum; and the site maximum itself (default, CLI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cabinet_runtime.protocol import BasketLine
from facepay.cabinets.service import LaneSpec, create_cabinet, create_site, set_planogram
from facepay.catalog.products import ProductSpec, upsert_products
from facepay.checkout.basket_check import BasketVerdict, check_basket
from facepay.cli import main
from facepay.customers.basket_limits import DEFAULT_MAX_BASKET
from facepay.customers.models import Site
from facepay.db.engine import open_database
from facepay.errors import ValidationError
from payments.money import CURRENCY_EXPONENTS


def _line(lane: str, sku: str, qty: int) -> BasketLine:
    return BasketLine(lane=lane, sku=sku, qty=qty, confidence=1.0)


@pytest.fixture
def cabinet_id(sessions: sessionmaker[Session]) -> str:
    with sessions.begin() as session:
        site = create_site(session, "corner", "KRW", max_basket_amount=10_000)
        upsert_products(
            session,
            [
                ProductSpec("cola", "Cola", 1500, "KRW", 355.0, 8.0),
                ProductSpec("bar", "Bar", 2500, "KRW", 50.0, 3.0),
                ProductSpec("soda-usd", "Soda", 199, "USD", 355.0, 8.0),
            ],
        )
        cabinet = create_cabinet(session, site.id, "fridge", hold_amount=5000)
        set_planogram(
            session, cabinet.id, [LaneSpec("s1", "A1", "cola", 4), LaneSpec("s1", "A2", "cola", 2)]
        )
        # the planogram now in force moves the bars in and A2 out; A1 keeps its 4 colas
        set_planogram(
            session, cabinet.id, [LaneSpec("s1", "A1", "cola", 4), LaneSpec("s1", "B1", "bar", 3)]
        )
        return cabinet.id


def _verdict(sessions: sessionmaker[Session], cabinet_id: str, *lines: BasketLine) -> BasketVerdict:
    with sessions() as session:
        return check_basket(session, cabinet_id, lines)


def test_a_basket_the_server_can_explain_passes_at_catalogue_prices(
    sessions: sessionmaker[Session], cabinet_id: str
) -> None:
    verdict = _verdict(sessions, cabinet_id, _line("A1", "cola", 4), _line("B1", "bar", 1))
    assert verdict.ok and verdict.reason == ""
    assert (verdict.total, verdict.currency) == (4 * 1500 + 2500, "KRW")
    assert _verdict(sessions, cabinet_id).ok, "an empty basket is possible"


def test_every_problem_is_named(sessions: sessionmaker[Session], cabinet_id: str) -> None:
    verdict = _verdict(
        sessions,
        cabinet_id,
        _line("A1", "cola", 3),
        _line("A1", "cola", 2),  # with the line above: 5 from a lane holding 4
        _line("A2", "cola", 1),  # a lane of the old planogram only
        _line("B1", "cola", 1),  # B1 holds bars
        _line("A1", "soda-usd", 1),  # priced in another currency: not sold here
        _line("A1", "caviar", 1),
    )
    codes = [problem.code for problem in verdict.problems]
    # soda-usd and caviar are unknown SKUs, and neither is the SKU lane A1 holds; the seven
    # colas (10,500 KRW) are above the site's 10,000 wherever they were taken from
    assert sorted(codes) == sorted(
        ["above_stock", "unknown_lane", "wrong_sku", "above_site_maximum"]
        + ["unknown_sku", "wrong_sku"] * 2
    )
    assert "5 x 'cola' from lane 'A1', which holds 4" in verdict.reason
    assert "lane 'A2' is not in the cabinet's planogram" in verdict.reason
    assert "unknown SKU 'soda-usd'" in verdict.reason
    assert not verdict.ok


def test_the_site_maximum_is_checked_on_catalogue_prices(
    sessions: sessionmaker[Session], cabinet_id: str
) -> None:
    at_most = _verdict(sessions, cabinet_id, _line("A1", "cola", 3), _line("B1", "bar", 2))
    assert at_most.ok and at_most.total == 9500
    above = _verdict(sessions, cabinet_id, _line("A1", "cola", 4), _line("B1", "bar", 2))
    assert [problem.code for problem in above.problems] == ["above_site_maximum"]
    assert "11000 KRW is above the site's maximum of 10000 KRW" in above.reason


def test_stock_is_the_servers_not_the_cabinets(
    sessions: sessionmaker[Session], cabinet_id: str
) -> None:
    from facepay.catalog.models import InventoryLevel

    with sessions.begin() as session:
        level = session.get(InventoryLevel, (cabinet_id, "A1"))
        assert level is not None
        level.quantity = 1
    assert not _verdict(sessions, cabinet_id, _line("A1", "cola", 2)).ok
    assert _verdict(sessions, cabinet_id, _line("A1", "cola", 1)).ok


def test_reasons_are_clipped_to_the_review_column(
    sessions: sessionmaker[Session], cabinet_id: str
) -> None:
    lines = [_line(f"Z{i}", "x" * 60, 1) for i in range(64)]
    verdict = _verdict(sessions, cabinet_id, *lines)
    assert len(verdict.reason) == 500 and verdict.reason.endswith("...")


# --- the site maximum -------------------------------------------------------------------------


def test_every_accepted_currency_has_a_default_maximum() -> None:
    assert set(DEFAULT_MAX_BASKET) == set(CURRENCY_EXPONENTS)
    assert DEFAULT_MAX_BASKET["KRW"] == 500_000


def test_a_site_gets_its_currencys_default_maximum_unless_given_one(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        krw = create_site(session, "a", "KRW")
        usd = create_site(session, "b", "USD", max_basket_amount=12_345)
        direct = Site(name="made directly", currency="JPY")  # the column default applies too
        session.add(direct)
        session.flush()
        assert (krw.max_basket_amount, usd.max_basket_amount) == (500_000, 12_345)
        assert direct.max_basket_amount == DEFAULT_MAX_BASKET["JPY"]
        for bad in (0, -1, 10**13):
            with pytest.raises(ValidationError, match="max basket"):
                create_site(session, "c", "KRW", max_basket_amount=bad)
        with pytest.raises(ValidationError, match="no default maximum basket for XTS"):
            create_site(session, "d", "XTS")


def test_create_site_takes_a_maximum_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [name for name in os.environ if name.startswith("FACEPAY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FACEPAY_DATA_DIR", str(tmp_path / "var"))
    assert main(["keys", "init"]) == 0
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["cabinets", "create-site", "corner", "--max-basket", "250000"]) == 0
    site_id = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["cabinets", "create-site", "plain", "--currency", "USD"]) == 0
    assert main(["cabinets", "create-site", "broken", "--max-basket", "0"]) == 2
    assert "max basket must be a positive amount" in capsys.readouterr().err
    from facepay.settings import load_settings

    with open_database(load_settings().effective_database_url) as db, db.sessions() as session:
        limits = {
            name: limit
            for name, limit in session.execute(select(Site.name, Site.max_basket_amount))
        }
        assert session.get(Site, site_id) is not None
    assert limits == {"corner": 250_000, "plain": DEFAULT_MAX_BASKET["USD"]}

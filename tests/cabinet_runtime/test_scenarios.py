"""The committed scenario suite through the real recognition path (acceptance 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cabinet_runtime.scenario import Scenario, ScenarioError, load_scenario
from cabinet_runtime.simulation.playback import ScenarioOutcome, run_scenario

SCENARIOS = Path(__file__).parent / "scenarios"
REQUIRED_CLASSES = [
    "single",
    "multi",
    "shelf",
    "putback",
    "wrong-shelf",
    "equal-weight",
    "noise-heavy",
    "drift",
    "vibration",
    "hand-rest",
    "camera-drop",
    "scale-drop",
    "door-left-open",
    "power-loss",
    "link-loss",
]


def _scales_work(s: Scenario) -> bool:
    return not any(f.kind in ("scale_drop", "power_loss") for f in s.faults)


@pytest.fixture(scope="module")
def outcomes() -> list[tuple[Scenario, ScenarioOutcome]]:
    paths = sorted(SCENARIOS.glob("*.json"))
    return [(s, run_scenario(s, p.parent)) for p in paths for s in [load_scenario(p)]]


def test_suite_covers_every_required_class() -> None:
    names = [p.stem for p in SCENARIOS.glob("*.json")]
    assert len(names) >= 40
    for cls in REQUIRED_CLASSES:
        assert any(n.startswith(cls) for n in names), f"no {cls} scenario"


@pytest.mark.slow
def test_exact_baskets_and_no_silent_mistakes(
    outcomes: list[tuple[Scenario, ScenarioOutcome]],
) -> None:
    silent = [o.name for _, o in outcomes if not o.exact and not o.result.review]
    assert silent == [], f"wrong baskets not sent to review: {silent}"
    working = [o for s, o in outcomes if _scales_work(s)]
    exact = sum(o.exact for o in working)
    assert len(working) >= 40
    assert exact / len(working) >= 0.99, [o.name for o in working if not o.exact]


@pytest.mark.slow
def test_every_basket_line_is_priced_in_the_scenario_currency(
    outcomes: list[tuple[Scenario, ScenarioOutcome]],
) -> None:
    for scenario, outcome in outcomes:
        prices = {p.sku: p.price for p in scenario.products}
        assert outcome.result.currency == scenario.currency
        for line in outcome.result.lines:
            assert isinstance(line.unit_price, int) and line.unit_price == prices[line.sku]
            assert 0.0 <= line.confidence <= 1.0


@pytest.mark.slow
def test_stock_after_exact_sessions_matches_what_is_left(
    outcomes: list[tuple[Scenario, ScenarioOutcome]],
) -> None:
    for scenario, outcome in outcomes:
        if not outcome.exact or outcome.result.review:
            continue
        before = sum(lane.count for shelf in scenario.shelves for lane in shelf.lanes)
        after = sum(sum(c.values()) for c in outcome.result.stock.values())
        assert before - after == sum(outcome.expected.values()), scenario.name


def _base() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCENARIOS / "single-s1-a.json").read_text())
    return data


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.pop("events"), "events"),
        (lambda d: d["events"].insert(0, {"t": 1, "action": "take", "lane": "zz"}), "unknown lane"),
        (
            lambda d: d["events"].insert(
                0, {"t": 1, "action": "put", "lane": "s1-a", "sku": "COLA-330"}
            ),
            "not taken",
        ),
        (lambda d: d["events"].pop(), "close"),
        (lambda d: d["events"].insert(0, {"t": 3, "action": "fly", "lane": "s1-a"}), "action"),
        (lambda d: d["shelves"][0]["scale"].update(rate_hz=500), "rate_hz"),
        (lambda d: d.update(currency="dollars"), "ISO 4217"),
        (
            lambda d: d["faults"].append(
                {"t": 1, "kind": "scale_drop", "duration_s": 1, "shelf": "s9"}
            ),
            "unknown shelf",
        ),
        (lambda d: d["shelves"][0]["lanes"][0].update(sku="NOPE"), "unknown SKU"),
        (
            lambda d: d["events"].insert(0, {"t": 1, "action": "take", "lane": "s1-a", "qty": 99}),
            "too few",
        ),
    ],
)
def test_unreadable_scenarios_say_why(tmp_path: Path, mutate: Any, match: str) -> None:
    data = _base()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ScenarioError, match=match):
        load_scenario(path)


def test_not_json_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ScenarioError, match=r"broken\.json"):
        load_scenario(path)


def test_expected_basket_is_takes_minus_puts() -> None:
    s = load_scenario(SCENARIOS / "wrong-shelf-water-on-s3.json")
    assert s.expected_basket() == {"BAR-50": 1}

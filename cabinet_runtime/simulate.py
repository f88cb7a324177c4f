"""``cabinet-runtime simulate SCENARIO.json... [--json]``.

Runs each scenario through the real recognition code on the simulated
hardware (no server). Exits 0 even when baskets differ; exits 2 when a
scenario cannot be read, naming the file and the reason, before running any.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import msgspec

from cabinet_runtime.scenario import Scenario, ScenarioError, load_scenario
from cabinet_runtime.simulation.playback import ScenarioOutcome, run_scenario

EXIT_UNREADABLE = 2


class ResultLine(msgspec.Struct):
    name: str
    expected: dict[str, int]
    recognized: dict[str, int]
    exact: bool
    confidence: float
    review: bool


class Summary(msgspec.Struct):
    scenarios: int
    exact: int
    exact_rate: float
    review_rate: float


class SimulationReport(msgspec.Struct):
    results: list[ResultLine]
    summary: Summary


def load_all(paths: Sequence[Path]) -> list[tuple[Scenario, Path]]:
    """Every scenario, or ScenarioError listing every unreadable one."""
    loaded: list[tuple[Scenario, Path]] = []
    errors: list[str] = []
    for path in paths:
        try:
            loaded.append((load_scenario(path), path.parent))
        except ScenarioError as exc:
            errors.append(str(exc))
    if errors:
        raise ScenarioError("\n".join(errors))
    return loaded


def report(outcomes: Sequence[ScenarioOutcome]) -> SimulationReport:
    results = [
        ResultLine(
            o.name,
            o.expected,
            o.result.basket,
            o.exact,
            o.result.confidence,
            o.result.review,
        )
        for o in outcomes
    ]
    n = len(results)
    exact = sum(r.exact for r in results)
    reviews = sum(r.review for r in results)
    summary = Summary(
        n, exact, round(exact / n, 4) if n else 0.0, round(reviews / n, 4) if n else 0.0
    )
    return SimulationReport(results, summary)


def _basket_text(basket: dict[str, int]) -> str:
    return ", ".join(f"{qty} x {sku}" for sku, qty in sorted(basket.items())) or "(empty)"


def _print_table(rep: SimulationReport, out: TextIO) -> None:
    for r in rep.results:
        mark = "ok  " if r.exact else "DIFF"
        flag = " REVIEW" if r.review else ""
        basket = _basket_text(r.recognized)
        out.write(f"{mark} {r.name}: {basket} (conf {r.confidence:.2f}){flag}\n")
        if not r.exact:
            out.write(f"     expected: {_basket_text(r.expected)}\n")
    s = rep.summary
    out.write(
        f"{s.exact}/{s.scenarios} exact ({s.exact_rate:.1%}), review rate {s.review_rate:.1%}\n"
    )


def simulate_command(paths: list[Path], as_json: bool) -> int:
    try:
        scenarios = load_all(paths)
    except ScenarioError as exc:
        sys.stderr.write(f"unreadable scenario: {exc}\n")
        return EXIT_UNREADABLE
    rep = report([run_scenario(s, base) for s, base in scenarios])
    if as_json:
        sys.stdout.write(msgspec.json.encode(rep).decode() + "\n")
    else:
        _print_table(rep, sys.stdout)
    return 0

"""Pick recognition benchmark over the scenario suite.

Per scenario class: how long from the door closing until the basket is known
-- the virtual wait for the scales to settle plus the real compute time
(recorder finish + recognition) -- and the suite's exact-basket and review
rates. Prints a table; ``--json PATH`` also writes the figures.

    python benchmarks/cabinet.py [--scenarios DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from cabinet_runtime.simulate import load_all
from cabinet_runtime.simulation.playback import ScenarioOutcome, run_scenario

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "tests/cabinet_runtime/scenarios"
CLASSES = [
    "single",
    "multi",
    "shelf",
    "putback",
    "empty",
    "wrong-shelf",
    "wrong-lane",
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
    "krw",
    "random",
]


def scenario_class(name: str) -> str:
    matches = [c for c in CLASSES if name.startswith(c)]
    return max(matches, key=len) if matches else "other"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def summarise(outcomes: list[tuple[ScenarioOutcome, bool]]) -> dict[str, Any]:
    by_class: dict[str, list[ScenarioOutcome]] = defaultdict(list)
    for outcome, _ in outcomes:
        by_class[scenario_class(outcome.name)].append(outcome)
    classes = {}
    for cls, items in sorted(by_class.items()):
        compute_ms = [o.compute_s * 1000 for o in items]
        cpu_ms = [o.compute_cpu_s * 1000 for o in items]
        total_ms = [o.settle_s * 1000 + o.compute_s * 1000 for o in items]
        classes[cls] = {
            "scenarios": len(items),
            "settle_s_mean": round(statistics.fmean(o.settle_s for o in items), 3),
            "compute_ms_mean": round(statistics.fmean(compute_ms), 1),
            "compute_ms_p95": round(_p95(compute_ms), 1),
            "compute_cpu_ms_mean": round(statistics.fmean(cpu_ms), 1),
            "close_to_basket_ms_mean": round(statistics.fmean(total_ms), 1),
            "exact": sum(o.exact for o in items),
            "review": sum(o.result.review for o in items),
        }
    n = len(outcomes)
    working = [o for o, scales_ok in outcomes if scales_ok]
    return {
        "cpus": os.cpu_count(),
        "classes": classes,
        "summary": {
            "scenarios": n,
            "exact": sum(o.exact for o, _ in outcomes),
            "exact_rate": round(sum(o.exact for o, _ in outcomes) / n, 4),
            "review_rate": round(sum(o.result.review for o, _ in outcomes) / n, 4),
            "scales_working": len(working),
            "exact_rate_scales_working": round(sum(o.exact for o in working) / len(working), 4),
            "wrong_without_review": sum(
                1 for o, _ in outcomes if not o.exact and not o.result.review
            ),
        },
    }


def _print(report: dict[str, Any]) -> None:
    head = f"{'class':<15}{'n':>4}{'settle s':>10}{'compute ms':>12}{'p95 ms':>9}{'cpu ms':>8}"
    head += f"{'close->basket ms':>18}{'exact':>7}{'review':>8}"
    print(head)
    for cls, row in report["classes"].items():
        print(
            f"{cls:<15}{row['scenarios']:>4}{row['settle_s_mean']:>10.2f}"
            f"{row['compute_ms_mean']:>12.1f}{row['compute_ms_p95']:>9.1f}"
            f"{row['compute_cpu_ms_mean']:>8.1f}"
            f"{row['close_to_basket_ms_mean']:>18.1f}{row['exact']:>7}{row['review']:>8}"
        )
    s = report["summary"]
    print(
        f"\n{s['scenarios']} scenarios on {report['cpus']} CPUs: exact {s['exact_rate']:.2%}, "
        f"review {s['review_rate']:.2%}, exact where scales work "
        f"{s['exact_rate_scales_working']:.2%} ({s['scales_working']}), "
        f"wrong without review: {s['wrong_without_review']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--json", type=Path, dest="json_path")
    args = parser.parse_args(argv)
    scenarios = load_all(sorted(args.scenarios.glob("*.json")))
    outcomes = []
    for scenario, base in scenarios:
        scales_ok = not any(f.kind in ("scale_drop", "power_loss") for f in scenario.faults)
        outcomes.append((run_scenario(scenario, base), scales_ok))
    report = summarise(outcomes)
    _print(report)
    if args.json_path:
        args.json_path.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

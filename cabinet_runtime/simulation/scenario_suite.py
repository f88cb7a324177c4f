"""Generates the committed scenario suite (tests/cabinet_runtime/scenarios).

``python -m cabinet_runtime.simulation.scenario_suite OUTDIR`` rewrites the
JSON files; the files, not this script, are the test bench.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import numpy as np

from cabinet_runtime.simulation.random_sessions import random_session
from cabinet_runtime.simulation.suite_builders import Json, close, fault, put, scenario, take


def suite() -> list[Json]:
    out: list[Json] = []
    add: Callable[[Json], None] = out.append
    seed = iter(range(100, 1000))
    # single picks
    for lane in ("s1-a", "s1-c", "s2-a", "s2-c", "s3-a", "s3-c"):
        add(scenario(f"single-{lane}", next(seed), [take(2, lane), close(6)]))
    # multiple picks, one grab of several, across shelves
    add(scenario("multi-two-shelves", next(seed), [take(2, "s1-c"), take(5, "s3-b"), close(9)]))
    add(scenario("multi-grab-three-bars", next(seed), [take(2, "s2-b", 3), close(6)]))
    add(scenario("multi-grab-two-milk", next(seed), [take(2, "s3-c", 2), close(7)]))
    add(
        scenario(
            "multi-five-items",
            next(seed),
            [take(2, "s1-a"), take(4.5, "s2-a", 2), take(7, "s3-a"), take(10, "s2-c"), close(14)],
        )
    )
    add(
        scenario(
            "multi-all-shelves-rate-60",
            next(seed),
            [take(1.5, "s1-b"), take(4, "s2-b", 2), take(6.5, "s3-b", 2), close(10)],
            rate=40,
        )
    )
    add(
        scenario(
            "multi-rate-20",
            next(seed),
            [take(2, "s1-c"), take(5, "s2-a"), take(8, "s3-c"), close(12)],
            rate=20,
        )
    )
    # several SKUs from one shelf
    add(scenario("shelf-two-skus", next(seed), [take(2, "s2-a"), take(4.5, "s2-b"), close(8)]))
    add(
        scenario(
            "shelf-three-skus",
            next(seed),
            [take(2, "s3-a"), take(4.5, "s3-b"), take(7, "s3-c"), close(11)],
        )
    )
    add(scenario("shelf-gum-and-bar", next(seed), [take(2, "s2-c", 2), take(5, "s2-b"), close(8)]))
    add(
        scenario("shelf-water-and-cola", next(seed), [take(2, "s1-a"), take(4.5, "s1-c"), close(8)])
    )
    # pick and put back
    add(
        scenario(
            "putback-all", next(seed), [take(2, "s1-c"), put(6, "s1-c", "WATER-500"), close(10)]
        )
    )
    add(
        scenario(
            "putback-one-of-two",
            next(seed),
            [take(2, "s2-a", 2), put(6, "s2-a", "CHIPS-90"), close(9)],
        )
    )
    add(
        scenario(
            "putback-then-other",
            next(seed),
            [take(2, "s3-b"), put(5, "s3-b", "YOGH-130"), take(8, "s3-a"), close(12)],
        )
    )
    add(scenario("empty-session", next(seed), [close(5)]))
    add(scenario("empty-browse-long", next(seed), [close(25)]))
    # put back on a wrong shelf / wrong lane
    add(
        scenario(
            "wrong-shelf-yoghurt-on-s2",
            next(seed),
            [take(2, "s3-b", 2), put(6, "s2-a", "YOGH-130"), close(10)],
        )
    )
    add(
        scenario(
            "wrong-shelf-water-on-s3",
            next(seed),
            [take(2, "s1-c"), take(4.5, "s2-b"), put(8, "s3-a", "WATER-500"), close(12)],
        )
    )
    add(
        scenario(
            "wrong-shelf-bar-on-s1",
            next(seed),
            [take(2, "s2-b", 2), put(5, "s1-a", "BAR-50"), close(9)],
        )
    )
    add(
        scenario(
            "wrong-lane-same-shelf",
            next(seed),
            [take(2, "s2-a"), put(5, "s2-c", "CHIPS-90"), close(8)],
        )
    )
    # equal unit weight: cola and lemonade
    add(scenario("equal-weight-lemonade", next(seed), [take(2, "s1-b"), close(6)]))
    add(
        scenario("equal-weight-both", next(seed), [take(2, "s1-a"), take(4.5, "s1-b", 2), close(8)])
    )
    add(
        scenario(
            "equal-weight-swap-lanes",
            next(seed),
            [take(2, "s1-a"), put(5, "s1-b", "COLA-330"), take(8, "s1-b"), close(11)],
        )
    )
    add(
        scenario(
            "equal-weight-cola-to-s3",
            next(seed),
            [take(2, "s1-a"), take(4, "s1-b"), put(7, "s3-b", "LEMON-330"), close(11)],
        )
    )
    # heavy noise, drift
    add(
        scenario(
            "noise-heavy-8g", next(seed), [take(2, "s1-c"), take(5, "s2-a"), close(9)], noise=8.0
        )
    )
    add(
        scenario(
            "noise-heavy-12g-gum",
            next(seed),
            [take(2, "s2-c", 2), take(5, "s3-b"), close(9)],
            noise=12.0,
        )
    )
    add(
        scenario(
            "noise-heavy-10g-multi",
            next(seed),
            [take(2, "s3-c"), take(5, "s1-a"), close(9)],
            noise=10.0,
        )
    )
    add(
        scenario(
            "drift-20g-per-min",
            next(seed),
            [take(2, "s2-b"), take(10, "s3-b"), close(20)],
            drift=20.0,
        )
    )
    add(
        scenario(
            "drift-40g-per-min-long",
            next(seed),
            [take(3, "s1-c"), take(20, "s2-a"), close(40)],
            drift=40.0,
        )
    )
    add(scenario("drift-negative", next(seed), [take(3, "s2-c", 3), close(15)], drift=-25.0))
    # vibration, a resting hand
    add(
        scenario(
            "vibration-during-pick",
            next(seed),
            [take(2, "s1-a"), take(5, "s2-a"), close(9)],
            [fault(1.5, "vibration", 2.0)],
        )
    )
    add(
        scenario(
            "vibration-strong-at-close",
            next(seed),
            [take(2, "s3-a"), close(6)],
            [fault(5.0, "vibration", 3.0, magnitude_g=150)],
        )
    )
    add(
        scenario(
            "vibration-repeated",
            next(seed),
            [take(2, "s2-b", 2), take(7, "s1-c"), close(11)],
            [fault(3, "vibration", 1.5), fault(8, "vibration", 1.5)],
        )
    )
    add(
        scenario(
            "hand-rest-shelf-2",
            next(seed),
            [take(2, "s2-a"), take(8, "s2-b"), close(12)],
            [fault(3.5, "hand_rest", 3.0, shelf="s2")],
        )
    )
    add(
        scenario(
            "hand-rest-heavy",
            next(seed),
            [take(2, "s1-c"), close(10)],
            [fault(4, "hand_rest", 4.0, shelf="s1", magnitude_g=900)],
        )
    )
    add(
        scenario(
            "hand-rest-all-shelves",
            next(seed),
            [take(2, "s3-b"), close(10)],
            [fault(4, "hand_rest", 3.0, magnitude_g=250)],
        )
    )
    # a camera or a scale dropping out
    add(
        scenario(
            "camera-drop-s2",
            next(seed),
            [take(2, "s2-a"), take(5, "s3-b"), close(9)],
            [fault(0, "camera_drop", 30, shelf="s2")],
        )
    )
    add(
        scenario(
            "camera-drop-equal-weight",
            next(seed),
            [take(2, "s1-b"), close(6)],
            [fault(0, "camera_drop", 30, shelf="s1")],
        )
    )
    add(
        scenario(
            "camera-drop-all",
            next(seed),
            [take(2, "s1-c"), take(5, "s3-c"), close(9)],
            [fault(0, "camera_drop", 30)],
        )
    )
    add(
        scenario(
            "scale-drop-mid-session",
            next(seed),
            [take(2, "s2-b"), take(6, "s1-a"), close(12)],
            [fault(4, "scale_drop", 3.0, shelf="s2")],
        )
    )
    add(
        scenario(
            "scale-drop-at-close",
            next(seed),
            [take(2, "s3-a"), close(6)],
            [fault(4, "scale_drop", 30.0, shelf="s3")],
        )
    )
    add(
        scenario(
            "scale-drop-during-grab",
            next(seed),
            [take(3, "s1-c"), close(8)],
            [fault(2.5, "scale_drop", 2.0, shelf="s1")],
        )
    )
    # door left open
    add(scenario("door-left-open", next(seed), [take(2, "s1-a"), take(5, "s2-c"), close(150)]))
    add(scenario("door-left-open-drift", next(seed), [take(3, "s3-b"), close(130)], drift=10.0))
    # power loss and link loss mid-session
    add(
        scenario(
            "power-loss-after-pick",
            next(seed),
            [take(2, "s1-c"), take(9, "s2-a"), close(12)],
            [fault(4.5, "power_loss", 3.0)],
        )
    )
    add(
        scenario(
            "power-loss-over-close",
            next(seed),
            [take(2, "s3-b"), close(6)],
            [fault(5, "power_loss", 4.0)],
        )
    )
    add(
        scenario(
            "power-loss-during-grab",
            next(seed),
            [take(2, "s2-b", 2), take(5, "s3-a"), close(10)],
            [fault(4.8, "power_loss", 1.5)],
        )
    )
    add(
        scenario(
            "link-loss-mid-session",
            next(seed),
            [take(2, "s1-b"), take(6, "s2-b"), close(10)],
            [fault(3, "link_loss", 20.0)],
        )
    )
    add(
        scenario(
            "link-loss-whole-session",
            next(seed),
            [take(2, "s3-c"), close(6)],
            [fault(0, "link_loss", 60.0)],
        )
    )
    # other currency
    add(
        scenario(
            "krw-basket", next(seed), [take(2, "s1-a"), take(5, "s2-b"), close(9)], currency="KRW"
        )
    )
    return out


def write_suite(directory: Path, random_count: int = 85) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    rng = np.random.default_rng(20261126)
    randoms = [random_session(i, rng) for i in range(random_count)]
    for s in [*suite(), *randoms]:
        path = directory / f"{s['name']}.json"
        path.write_bytes(msgspec.json.format(msgspec.json.encode(s), indent=1) + b"\n")
        paths.append(path)
    return paths


if __name__ == "__main__":
    written = write_suite(Path(sys.argv[1]))
    sys.stdout.write(f"wrote {len(written)} scenarios\n")

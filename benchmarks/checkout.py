"""Checkout latency: face → unlock and door close → receipt, with 1 and with 8 cabinets.

Embedded defaults (SQLite, in-process sandbox card network), the real server
under uvicorn and real cabinet runtimes on simulated hardware, linked over
real WebSockets. Every cabinet runs in a process of its own, as a device
would, though all share this machine's cores with the server. Each cabinet
serves visits back to back: a face at the front camera, one item taken, the
door closed. Latencies are measured
on the cabinet: the last front-camera frame before identification → the lock
driven open, and the door closed → the receipt on the display.

    python benchmarks/checkout.py [--cabinets 1,8] [--visits 12] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import _repo_path  # noqa: F401  (first: the package folders must win over this one)
import numpy as np

from api.app import create_app
from biometrics.engine import FaceEngine
from facepay.bootstrap import Services
from facepay.db.engine import open_database
from facepay.db.migrate import upgrade
from facepay.keys.store import init_keys
from facepay.settings import Settings
from facepay_demo.faces import demo_faces
from facepay_demo.rig import build_rig, provision_cabinet
from facepay_demo.script import APPROVING_CARD
from facepay_demo.server import BackgroundServer, free_port
from facepay_demo.shop import open_shop, sign_up
from facepay_demo.visits import Pick, Visit, run_visit

SHOPPERS = ("minji", "seojun", "hyunwoo", "yao")
LANES = ("top-1", "top-2", "bottom-1", "bottom-2")


def _percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    arr = np.asarray(values)
    return {
        "n": len(values),
        "p50": round(float(np.percentile(arr, 50)), 1),
        "p95": round(float(np.percentile(arr, 95)), 1),
        "max": round(float(arr.max()), 1),
    }


async def _visits(state_dir: Path, seed: int, visits: int, start: Any) -> dict[str, Any]:
    """One cabinet: its own process, like a real device with its own runtime."""
    engine = await asyncio.to_thread(FaceEngine.load)
    faces = await asyncio.to_thread(demo_faces, engine)
    rig = build_rig(state_dir, seed=seed)
    await rig.start()
    rng = random.Random(seed)
    result: dict[str, Any] = {"unlock": [], "receipt": [], "failures": []}
    try:
        await asyncio.to_thread(start.wait)  # every cabinet begins at once
        for v in range(visits):
            role = rng.choice(SHOPPERS)
            frames = faces[role].front_frames(4, seed=seed * 1000 + v)
            pick = Pick("take", rng.choice(LANES))
            observed = await run_visit(rig, Visit(f"{seed}/{v}", role, "face", frames, [pick]))
            if observed.decision != "approve":
                result["failures"].append(f"{state_dir.name} visit {v}: {observed.message}")
                continue
            result["unlock"].append(observed.latency_ms["face_to_unlock"])
            result["receipt"].append(observed.latency_ms["close_to_receipt"])
    finally:
        await rig.stop()
    return result


def _cabinet_process(state_dir: Path, seed: int, visits: int, start: Any, results: Any) -> None:
    logging.basicConfig(level=logging.WARNING)
    results.put(asyncio.run(_visits(state_dir, seed, visits, start)))


async def run(cabinets: int, visits_each: int, seed: int) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="facepay-bench-"))
    settings = Settings(data_dir=data_dir, port=free_port())
    init_keys(settings.keys_dir)
    with open_database(settings.effective_database_url) as db:
        upgrade(db.engine)
    app = create_app(settings)
    services: Services = app.state.services
    server = BackgroundServer(app, settings.port)
    server.start()
    try:
        engine = await asyncio.to_thread(FaceEngine.load)
        faces = await asyncio.to_thread(demo_faces, engine)
        shop = open_shop(services, cabinets=cabinets)
        for i, role in enumerate(SHOPPERS):
            phone = f"+82 10-4000-{i:04d}"
            await sign_up(services, shop.site_id, role, phone, APPROVING_CARD, faces[role])
        context = multiprocessing.get_context("spawn")
        start, results = context.Event(), context.Queue()
        workers = []
        for n, (_, code) in enumerate(shop.cabinets):
            state_dir = data_dir / f"cabinet-{n}"
            state_dir.mkdir()
            await asyncio.to_thread(provision_cabinet, state_dir, server.url, code)
            worker = context.Process(
                target=_cabinet_process, args=(state_dir, seed + n, visits_each, start, results)
            )
            worker.start()
            workers.append(worker)
        started = time.perf_counter()
        start.set()
        outcomes = [await asyncio.to_thread(results.get, True, 900) for _ in workers]
        elapsed = time.perf_counter() - started
        for worker in workers:
            worker.join(30)
        return {
            "cabinets": cabinets,
            "visits": cabinets * visits_each,
            "seconds": round(elapsed, 1),
            "face_to_unlock_ms": _percentiles([x for o in outcomes for x in o["unlock"]]),
            "close_to_receipt_ms": _percentiles([x for o in outcomes for x in o["receipt"]]),
            "failures": [f for o in outcomes for f in o["failures"]],
        }
    finally:
        server.stop()
        services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cabinets", default="1,8", help="comma-separated cabinet counts")
    parser.add_argument("--visits", type=int, default=12, help="visits per cabinet")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("httpx", "facepay", "cabinet_runtime", "api"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    results = []
    for count in (int(c) for c in args.cabinets.split(",")):
        results.append(asyncio.run(run(count, args.visits, args.seed)))
    columns = ("cabinets", "visits", "unlock p50", "unlock p95", "receipt p50", "receipt p95")
    print(f"checkout latency, ms ({os.cpu_count()} cores; targets p95: unlock 300, receipt 500)")
    print(" ".join(f"{c:>11}" for c in (*columns, "failed")))
    for r in results:
        u, c = r["face_to_unlock_ms"], r["close_to_receipt_ms"]
        cells = [r["cabinets"], r["visits"], u.get("p50", "-"), u.get("p95", "-")]
        cells += [c.get("p50", "-"), c.get("p95", "-"), len(r["failures"])]
        print(" ".join(f"{cell:>11}" for cell in cells))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cores": os.cpu_count(), "results": results}, indent=2))


if __name__ == "__main__":
    main()

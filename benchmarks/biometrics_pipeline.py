"""Face pipeline and liveness benchmark (engineer A's half of the biometrics figures).

    python benchmarks/biometrics_pipeline.py [--quick] [--json PATH]

Detection at 640x480, alignment + embedding per face (single and batched),
the whole single-face pipeline (detect, quality, align, embed; and with the
depth and passive liveness checks), and APCER/BPCER of the attack suite
(biometrics.attacks) per evidence scenario. benchmarks/biometrics.py imports
``run()`` and merges the result into its own report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _repo_path  # noqa: F401  (first: the package folders must win over this one)
import cv2
import numpy as np
import numpy.typing as npt

from biometrics.attacks.depth_maps import genuine_depth
from biometrics.attacks.sources import source_faces
from biometrics.attacks.suite import run_suite, suite_report
from biometrics.engine import FaceEngine
from biometrics.images import read_image
from biometrics.liveness.depth import check_depth
from biometrics.liveness.passive import PassiveModel, check_passive, configured_model_path
from biometrics.model_pack import default_pack_dir
from biometrics.quality import assess_face

SHARED_ANTISPOOF = (
    Path(__file__).resolve().parents[2] / "shared" / "models" / "antispoof"
) / "minifasnet_v2se_128_fp32.onnx"


def _timed(fn: Callable[[], object], repeats: int, warmup: int = 3) -> dict[str, float]:
    """Wall-clock p50/p95, and the process CPU time per call: on a shared machine
    the wall clock includes waiting for a core, the CPU time does not."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    p50, p95 = np.percentile(wall, [50, 95])
    return {
        "p50_ms": round(float(p50), 2),
        "p95_ms": round(float(p95), 2),
        "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 2),
        "runs": repeats,
    }


def kiosk_frame() -> npt.NDArray[np.uint8]:
    """640x480 with one face of ~50 px inter-ocular distance, like a cabinet camera."""
    photo = read_image(default_pack_dir() / "yaoming.jpg")
    frame = cv2.copyMakeBorder(photo, 100, 480, 200, 640, cv2.BORDER_REPLICATE)[:480, :640]
    return np.ascontiguousarray(frame, dtype=np.uint8)


def detection(engine: FaceEngine, repeats: int) -> dict[str, Any]:
    frame = kiosk_frame()
    return {"image": "640x480, 1 face", **_timed(lambda: engine.detect(frame), repeats)}


def embedding(engine: FaceEngine, repeats: int) -> dict[str, Any]:
    frame = kiosk_frame()
    face = engine.detect(frame)[0]
    single = _timed(lambda: engine.embed(frame, [face]), repeats)
    players = read_image(default_pack_dir() / "players.jpg")
    faces = engine.detect(players)
    batched = _timed(lambda: engine.embed(players, faces), max(3, repeats // 5))
    per_face = {k: round(v / len(faces), 2) for k, v in batched.items() if k.endswith("_ms")}
    per_face["runs"] = batched["runs"]
    return {"single_face": single, "batch_faces": len(faces), "batched_per_face": per_face}


def pipeline(engine: FaceEngine, repeats: int, passive: PassiveModel | None) -> dict[str, Any]:
    frame = kiosk_frame()
    face = engine.detect(frame)[0]
    depth = genuine_depth(frame.shape[:2], face.kps, np.random.default_rng(0))

    def identify_path() -> None:
        faces = engine.detect(frame)
        main = max(faces, key=lambda f: f.area)
        assess_face(engine, frame, main, others=faces)
        engine.embed(frame, [main])

    def with_liveness() -> None:
        faces = engine.detect(frame)
        main = max(faces, key=lambda f: f.area)
        assess_face(engine, frame, main, others=faces)
        check_depth(depth, main)
        if passive is not None:
            check_passive(passive, frame, main)
        engine.embed(frame, [main])

    result = {"detect_quality_embed": _timed(identify_path, repeats)}
    label = "detect_quality_depth_passive_embed" if passive else "detect_quality_depth_embed"
    result[label] = _timed(with_liveness, repeats)
    return result


def liveness(engine: FaceEngine, quick: bool, passive: PassiveModel | None) -> dict[str, Any]:
    sources = source_faces(engine, mirrored=not quick)
    start = time.perf_counter()
    results = run_suite(engine, sources, seed=0, passive_model=passive)
    return {
        "sources": len(sources),
        "presentations": len(results),
        "seconds": round(time.perf_counter() - start, 1),
        "scenarios": suite_report(results),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Every figure of this benchmark as one dict."""
    engine = FaceEngine.load().prepare()
    # The benchmark (not the product) may use the shared test model beside the repository.
    model_path = configured_model_path() or SHARED_ANTISPOOF
    passive = PassiveModel.load(model_path) if model_path and model_path.is_file() else None
    repeats = 30 if quick else 200
    return {
        "nproc": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "platform": platform.platform(),
        "pack_id": engine.pack_id,
        "passive_model": str(model_path) if passive else None,
        "detection_640x480": detection(engine, repeats),
        "align_embed": embedding(engine, repeats),
        "single_face_pipeline": pipeline(engine, repeats, passive),
        "liveness_attack_suite": liveness(engine, quick, passive),
    }


def _print(report: dict[str, Any]) -> None:
    print(f"nproc {report['nproc']}  loadavg {report['loadavg']}  pack {report['pack_id']}")
    rows = [
        ("detection 640x480", report["detection_640x480"]),
        ("align+embed, 1 face", report["align_embed"]["single_face"]),
        (
            f"align+embed per face, batch of {report['align_embed']['batch_faces']}",
            report["align_embed"]["batched_per_face"],
        ),
        *((f"pipeline: {k}", v) for k, v in report["single_face_pipeline"].items()),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"\n{'stage'.ljust(width)}  {'p50 ms':>8}  {'p95 ms':>8}  {'CPU p50 ms':>10}")
    for name, f in rows:
        times = f"{f['p50_ms']:>8.2f}  {f['p95_ms']:>8.2f}  {f['cpu_p50_ms']:>10.2f}"
        print(f"{name.ljust(width)}  {times}")
    suite = report["liveness_attack_suite"]
    print(
        f"\nattack suite: {suite['sources']} source faces, {suite['presentations']} presentations "
        f"({suite['seconds']} s)"
    )
    scenarios = suite["scenarios"]
    attacks = sorted(next(iter(scenarios.values()))["apcer"])
    print(
        f"{'evidence'.ljust(22)}  "
        + "  ".join(a.rjust(13) for a in attacks)
        + "  "
        + "BPCER".rjust(6)
    )
    for name, rates in scenarios.items():
        cells = "  ".join(f"{rates['apcer'][a]:>13.1%}" for a in attacks)
        print(f"{name.ljust(22)}  {cells}  {rates['bpcer']:>6.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and sources")
    parser.add_argument("--json", type=Path, metavar="PATH")
    args = parser.parse_args(argv)
    report = run(quick=args.quick)
    _print(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Biometrics benchmark: the 1:N matcher, plus the pipeline and liveness figures
from benchmarks/biometrics_pipeline.py when that module is present.

    python benchmarks/biometrics.py --sizes 10000,100000 --json /tmp/bio.json

Matcher galleries are synthetic (biometrics.synthetic) with the genuine and
impostor similarity spread of the real shipped faces, taken from the default
calibration table. For each size it reports single-query search latency
(probe validation + index search, one thread), recall@1 of HNSW against exact
search, rank-1 identification rate, build time and memory per million
templates. Built HNSW graphs are cached under --cache-dir (synthetic data
only), so the heavy 1M build runs once.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from _repo_path import ROOT  # before the packages: this folder must not shadow them

# One BLAS thread by default: a matrix-vector product split over threads on a
# shared 2-core machine spends more time synchronising than computing (measured:
# exact search p95 at 5k identities 0.5 ms with one thread, 12 ms with two).
if "--blas-threads" in sys.argv:
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--blas-threads") + 1]
else:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


import numpy as np
import numpy.typing as npt

from biometrics.calibration import default_table
from biometrics.matcher import as_probe
from biometrics.matcher_exact import ExactIndex
from biometrics.matcher_hnsw import HnswIndex, HnswParams
from biometrics.model_pack import inspect_pack
from biometrics.synthetic import SimilaritySpread, SyntheticFaces, SyntheticGallery

Row = dict[str, Any]
SEED = 7


def _rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _percentiles(samples_s: list[float]) -> tuple[float, float]:
    ms = np.asarray(samples_s) * 1000.0
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def exact_top1(gallery: npt.NDArray[np.float32], probes: npt.NDArray[np.float32]) -> Any:
    """Ground-truth nearest neighbour of each probe, in gallery chunks."""
    best = np.full(probes.shape[0], -np.inf, dtype=np.float32)
    arg = np.zeros(probes.shape[0], dtype=np.int64)
    for start in range(0, gallery.shape[0], 131072):
        scores = probes @ gallery[start : start + 131072].T
        i = scores.argmax(axis=1)
        s = scores[np.arange(len(i)), i]
        better = s > best
        best[better] = s[better]
        arg[better] = i[better] + start
    return arg


def _time_searches(index: ExactIndex | HnswIndex, probes: npt.NDArray[np.float32]) -> list[float]:
    times = []
    for probe in probes:
        t0 = time.perf_counter()
        index.search(as_probe(probe), 5)
        times.append(time.perf_counter() - t0)
    return times


def _hnsw_for(
    gallery: SyntheticGallery, ids: list[str], params: HnswParams, cache: Path | None, tag: str
) -> tuple[HnswIndex, float, bool]:
    path = cache / f"hnsw-{tag}.bin" if cache else None
    if path is not None and path.is_file():
        return HnswIndex.load_graph(str(path), gallery.gallery.shape[1], ids, params), 0.0, True
    index = HnswIndex(gallery.gallery.shape[1], params, capacity=len(ids))
    t0 = time.perf_counter()
    for start in range(0, len(ids), 100_000):
        stop = start + 100_000
        index.upsert(ids[start:stop], gallery.gallery[start:stop], threads=os.cpu_count() or 1)
    build_s = time.perf_counter() - t0
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        index.save_graph(str(path))
    return index, build_s, False


def bench_size(
    faces: SyntheticFaces,
    n: int,
    queries: int,
    params: HnswParams,
    cache: Path | None,
    ef_values: list[int],
) -> Row:
    data = faces.gallery(n, queries, seed=SEED + n)
    ids = [f"id{i}" for i in range(n)]
    truth_nn = exact_top1(data.gallery, data.probes)
    row: Row = {"identities": n, "queries": int(data.probes.shape[0])}

    rss0 = _rss_bytes()
    # The gallery's first rows are in the key: a changed generator must not reuse a graph.
    sample = hashlib.sha256(data.gallery[:8].tobytes()).hexdigest()[:12]
    tag = f"{n}-m{params.m}-efc{params.ef_construction}-{sample}"
    hnsw, build_s, cached = _hnsw_for(data, ids, params, cache, tag)
    rss_hnsw = _rss_bytes() - rss0
    row.update(
        hnsw_build_s=None if cached else build_s,
        hnsw_bytes_per_million=hnsw.memory_bytes() / n * 1e6,
        hnsw_rss_bytes_per_million=(rss_hnsw / n * 1e6) if not cached else None,
    )
    sweep = []
    for ef in ef_values:
        hnsw.set_ef_search(ef)
        p50, p95 = _percentiles(_time_searches(hnsw, data.probes))
        top1 = np.array([int(hnsw.search(as_probe(p), 1)[0][0][2:]) for p in data.probes])
        sweep.append(
            {
                "ef_search": ef,
                "p50_ms": p50,
                "p95_ms": p95,
                "recall_at_1": float(np.mean(top1 == truth_nn)),
                "rank1_identification": float(np.mean(top1 == data.probe_ids)),
            }
        )
    headline = next((r for r in sweep if r["ef_search"] == params.ef_search), sweep[0])
    row.update(
        hnsw_ef_search=headline["ef_search"],
        hnsw_p50_ms=headline["p50_ms"],
        hnsw_p95_ms=headline["p95_ms"],
        hnsw_recall_at_1=headline["recall_at_1"],
        hnsw_rank1_identification=headline["rank1_identification"],
        ef_sweep=sweep,
    )
    del hnsw
    gc.collect()

    exact = ExactIndex(data.gallery.shape[1])
    probes, probe_ids = data.probes, data.probe_ids
    exact.upsert(ids, data.gallery)
    del data
    gc.collect()
    exact_probes = probes[:200] if n > 200_000 else probes
    p50, p95 = _percentiles(_time_searches(exact, exact_probes))
    row.update(
        exact_p50_ms=p50,
        exact_p95_ms=p95,
        exact_rank1_identification=float(np.mean(truth_nn == probe_ids)),
        exact_bytes_per_million=exact.memory_bytes() / n * 1e6,
    )
    return row


def crossover(faces: SyntheticFaces, sizes: list[int], params: HnswParams) -> list[Row]:
    """Exact vs HNSW single-query latency at small cohort sizes."""
    rows = []
    for n in sizes:
        data = faces.gallery(n, 300, seed=SEED + n)
        ids = [f"id{i}" for i in range(n)]
        exact = ExactIndex(data.gallery.shape[1])
        exact.upsert(ids, data.gallery)
        hnsw = HnswIndex(data.gallery.shape[1], params, capacity=n)
        hnsw.upsert(ids, data.gallery, threads=os.cpu_count() or 1)
        e50, _ = _percentiles(_time_searches(exact, data.probes))
        h50, _ = _percentiles(_time_searches(hnsw, data.probes))
        rows.append({"identities": n, "exact_p50_ms": e50, "hnsw_p50_ms": h50})
    return rows


def pipeline_figures(args: argparse.Namespace) -> dict[str, Any] | None:
    """The pipeline and liveness figures of benchmarks/biometrics_pipeline.py, printed
    with that module's own table, when the module exists."""
    path = ROOT / "benchmarks" / "biometrics_pipeline.py"
    if args.skip_pipeline or not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("biometrics_pipeline", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = getattr(module, "run", None)
    if run is None:
        return {"error": "benchmarks/biometrics_pipeline.py has no run() function"}
    result = run(quick=args.quick)
    report = dict(result) if isinstance(result, dict) else {"result": result}
    print("\npipeline and liveness (benchmarks/biometrics_pipeline.py)")
    printer = getattr(module, "_print", None)
    if callable(printer):
        printer(report)
    else:
        print(json.dumps(report, indent=1, default=str))
    return report


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if value < 10 else f"{value:,.0f}"
    return str(value)


def _flat(row: Row) -> Row:
    return {k: v for k, v in row.items() if not isinstance(v, list)}


def print_table(title: str, rows: list[Row]) -> None:
    if not rows:
        return
    keys = list(rows[0])
    widths = [max(len(k), *(len(_fmt(r.get(k))) for r in rows)) for k in keys]
    print(f"\n{title}")
    print("  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True)))
    for r in rows:
        print("  ".join(_fmt(r.get(k)).rjust(w) for k, w in zip(keys, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--crossover-sizes", default="1000,2000,5000,10000,20000,50000")
    parser.add_argument("--no-crossover", action="store_true")
    parser.add_argument("--m", type=int, default=HnswParams.m)
    parser.add_argument("--ef-construction", type=int, default=HnswParams.ef_construction)
    parser.add_argument("--ef", type=int, default=HnswParams.ef_search)
    parser.add_argument("--ef-sweep", default="48,64,128,192", help="more ef_search values")
    parser.add_argument(
        "--escalate-steps",
        type=int,
        default=HnswParams.escalate_steps,
        help="wider searches for impostor-like answers (0: plain HNSW)",
    )
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/facepay-bench-hnsw"))
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions in A's part")
    parser.add_argument("--blas-threads", default=os.environ.get("OPENBLAS_NUM_THREADS"))
    parser.add_argument("--json", type=Path, metavar="PATH")
    args = parser.parse_args(argv)

    pack_id = inspect_pack().pack_id
    spread = SimilaritySpread.from_table(default_table(pack_id))
    faces = SyntheticFaces(spread, seed=SEED)
    params = HnswParams(
        m=args.m,
        ef_construction=args.ef_construction,
        ef_search=args.ef,
        escalate_steps=args.escalate_steps,
    )
    cache = None if args.no_cache else args.cache_dir
    report: dict[str, Any] = {
        "machine": {
            "nproc": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg": os.getloadavg(),
            "blas_threads": args.blas_threads,
        },
        "pack_id": pack_id,
        "synthetic_spread": vars(spread) | {"effective_dims": faces.effective_dims},
        "hnsw_params": vars(params),
    }
    if not args.no_crossover:
        sizes = [int(s) for s in args.crossover_sizes.split(",") if s]
        report["crossover"] = crossover(faces, sizes, params)
        print_table("exact vs HNSW search p50 (ms), small cohorts", report["crossover"])
    rows = []
    for n in (int(s) for s in args.sizes.split(",") if s):
        ef_values = sorted({args.ef, *(int(e) for e in args.ef_sweep.split(",") if e)})
        rows.append(bench_size(faces, n, args.queries, params, cache, ef_values))
        print_table(f"HNSW ef_search sweep at {n:,} identities", rows[-1]["ef_sweep"])
        print_table(f"matcher at {n:,} identities", [_flat(rows[-1])])
        sys.stdout.flush()
        gc.collect()
    report["matcher"] = rows
    print_table("matcher", [_flat(r) for r in rows])
    pipeline = pipeline_figures(args)
    if pipeline is not None:
        report["pipeline"] = pipeline
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

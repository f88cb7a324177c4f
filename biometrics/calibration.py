"""Calibration tables: false-match and false-non-match rates per threshold.

A table is built from two score distributions: genuine (two captures of the
same person) and impostor (captures of two different people), both cosine
similarities of one model pack. For each threshold on a fixed grid it records

* ``fnmr``: the share of genuine scores below it;
* ``fmr_empirical``: the share of impostor scores at or above it;
* ``fmr``: the rate the policy uses, ``max(fmr_empirical, tail model)``.

A few thousand impostor pairs cannot measure a rate of 1e-6, so the tail
beyond the data comes from a normal distribution fitted to the impostor
scores' 90th and 99th percentiles (fitted to the upper tail, not the bulk,
because face impostor tails are heavier than a normal through the mean). The
table also keeps the summary statistics the synthetic gallery generator uses.

Tables are JSON files named after the pack id; the default table for the
default pack ships in ``biometrics/data/``. This module needs no model: the
server's policy can load a table without loading the engine.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from biometrics.errors import BiometricsError

DATA_DIR = Path(__file__).parent / "data"
TABLE_FORMAT = 1
GRID = tuple(round(-0.2 + 0.005 * i, 3) for i in range(241))  # -0.2 .. 1.0
DEFAULT_TARGET_FMR = 1e-5
_TAIL_QUANTILES = (0.90, 0.99)


class CalibrationError(BiometricsError):
    """A calibration table is missing, malformed, or cannot be built from the data."""


@dataclass(frozen=True)
class ScoreSummary:
    count: int
    mean: float
    std: float
    min: float
    max: float
    quantiles: dict[str, float]  # "0.01", "0.5", ... -> score


@dataclass(frozen=True)
class CalibrationTable:
    pack_id: str
    thresholds: list[float]
    fmr: list[float]
    fmr_empirical: list[float]
    fnmr: list[float]
    genuine: ScoreSummary
    impostor: ScoreSummary
    tail_model: dict[str, float]  # {"mean": .., "std": ..} of the fitted impostor tail
    target_fmr: float
    default_threshold: float
    identities: int
    provenance: dict[str, Any] = field(default_factory=dict)
    format: int = TABLE_FORMAT

    def _row(self, threshold: float) -> int:
        # The grid point at or below the threshold: rates there bound FMR from above.
        i = int(np.searchsorted(np.asarray(self.thresholds), threshold, side="right")) - 1
        return min(max(i, 0), len(self.thresholds) - 1)

    def fmr_at(self, threshold: float) -> float:
        """Calibrated false-match rate of one comparison at ``threshold``."""
        if threshold > self.thresholds[-1]:
            return _normal_sf(threshold, self.tail_model)
        return self.fmr[self._row(threshold)]

    def fnmr_at(self, threshold: float) -> float:
        i = int(np.searchsorted(np.asarray(self.thresholds), threshold, side="left"))
        return self.fnmr[min(i, len(self.fnmr) - 1)]

    def threshold_for_fmr(self, target_fmr: float) -> float:
        """The lowest grid threshold whose calibrated FMR is at most ``target_fmr``."""
        for t, rate in zip(self.thresholds, self.fmr, strict=True):
            if rate <= target_fmr:
                return t
        raise CalibrationError(f"no threshold on the grid reaches FMR {target_fmr:g}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CalibrationTable:
        try:
            raw = json.loads(text)
            if raw.get("format") != TABLE_FORMAT:
                raise CalibrationError(f"unsupported calibration table format {raw.get('format')}")
            raw["genuine"] = ScoreSummary(**raw["genuine"])
            raw["impostor"] = ScoreSummary(**raw["impostor"])
            table = cls(**raw)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CalibrationError(f"malformed calibration table: {exc}") from exc
        n = len(table.thresholds)
        if not n or any(len(col) != n for col in (table.fmr, table.fmr_empirical, table.fnmr)):
            raise CalibrationError("calibration table columns have different lengths")
        return table


def _normal_sf(x: float, model: dict[str, float]) -> float:
    return 0.5 * math.erfc((x - model["mean"]) / (model["std"] * math.sqrt(2.0)))


def _normal_ppf(p: float) -> float:
    # Inverse of the standard normal CDF by bisection on erfc: exact enough here
    # and keeps scipy out of the library's dependencies.
    lo, hi = -10.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(-mid / math.sqrt(2.0)) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def summarise(scores: npt.NDArray[np.float32]) -> ScoreSummary:
    qs = (0.001, 0.01, 0.05, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999)
    values = np.quantile(scores, qs)
    return ScoreSummary(
        count=int(scores.size),
        mean=float(scores.mean()),
        std=float(scores.std()),
        min=float(scores.min()),
        max=float(scores.max()),
        quantiles={str(q): round(float(v), 6) for q, v in zip(qs, values, strict=True)},
    )


def fit_impostor_tail(impostor: npt.NDArray[np.float32]) -> dict[str, float]:
    lo_q, hi_q = _TAIL_QUANTILES
    lo, hi = (float(v) for v in np.quantile(impostor, _TAIL_QUANTILES))
    z_lo, z_hi = _normal_ppf(lo_q), _normal_ppf(hi_q)
    std = max((hi - lo) / (z_hi - z_lo), 1e-6)
    return {"mean": lo - z_lo * std, "std": std}


def score_distributions(
    identities: list[str], embeddings: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Genuine and impostor cosine scores of every pair of samples."""
    labels = np.asarray(identities)
    if len(labels) != embeddings.shape[0]:
        raise CalibrationError("one identity label per embedding is required")
    scores = embeddings @ embeddings.T
    upper = np.triu_indices(len(labels), 1)
    same = (labels[:, None] == labels[None, :])[upper]
    pairs = scores[upper].astype(np.float32)
    return pairs[same], pairs[~same]


def build_table(
    genuine: npt.NDArray[np.float32],
    impostor: npt.NDArray[np.float32],
    pack_id: str,
    *,
    identities: int,
    target_fmr: float = DEFAULT_TARGET_FMR,
    provenance: dict[str, Any] | None = None,
) -> CalibrationTable:
    """Build the table; the default threshold is the lowest one reaching ``target_fmr``
    that is also above every impostor score seen."""
    if genuine.size < 3 or impostor.size < 10:
        raise CalibrationError(
            f"too little data to calibrate: {genuine.size} genuine and {impostor.size} "
            "impostor scores (need at least 3 and 10: two or more people, several images each)"
        )
    if not 0 < target_fmr < 1:
        raise CalibrationError("target FMR must be between 0 and 1")
    grid = np.asarray(GRID)
    imp_sorted = np.sort(impostor)
    gen_sorted = np.sort(genuine)
    fmr_emp = 1.0 - np.searchsorted(imp_sorted, grid, side="left") / imp_sorted.size
    fnmr = np.searchsorted(gen_sorted, grid, side="left") / gen_sorted.size
    tail = fit_impostor_tail(impostor)
    fmr = np.maximum(fmr_emp, [_normal_sf(float(t), tail) for t in grid])
    reaching = [
        float(t)
        for t, rate in zip(grid, fmr, strict=True)
        if rate <= target_fmr and t > imp_sorted[-1]
    ]
    if not reaching:
        raise CalibrationError(f"no threshold reaches FMR {target_fmr:g} on this data")
    return CalibrationTable(
        pack_id=pack_id,
        thresholds=[float(t) for t in grid],
        fmr=[float(f) for f in fmr],
        fmr_empirical=[float(f) for f in fmr_emp],
        fnmr=[float(f) for f in fnmr],
        genuine=summarise(genuine),
        impostor=summarise(impostor),
        tail_model=tail,
        target_fmr=target_fmr,
        default_threshold=reaching[0],
        identities=identities,
        provenance=provenance or {},
    )


def table_path(pack_id: str, directory: Path = DATA_DIR) -> Path:
    return directory / f"calibration-{pack_id}.json"


def save_table(table: CalibrationTable, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table.to_json() + "\n", encoding="utf-8")


def load_table(path: Path) -> CalibrationTable:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"cannot read calibration table {path}: {exc}") from exc
    return CalibrationTable.from_json(text)


_default_cache: dict[str, CalibrationTable] = {}


def default_table(pack_id: str) -> CalibrationTable:
    """The shipped table for ``pack_id``; a pack without one must be calibrated."""
    cached = _default_cache.get(pack_id)
    if cached is not None:
        return cached
    path = table_path(pack_id)
    if not path.is_file():
        raise CalibrationError(
            f"no calibration table for model pack {pack_id!r}; run "
            "'python -m biometrics calibrate FOLDER --out PATH' with labelled photos of "
            "this pack's users and configure the table"
        )
    table = load_table(path)
    if table.pack_id != pack_id:
        raise CalibrationError(f"{path} is for pack {table.pack_id!r}, not {pack_id!r}")
    _default_cache[pack_id] = table
    return table


def add_calibrate_command(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``calibrate FOLDER --out PATH`` on the ``python -m biometrics`` parser.

    The command needs the engine; it is imported when the command runs, so
    loading tables never pulls in the models.
    """
    from biometrics.calibration_build import register_command

    register_command(subparsers)

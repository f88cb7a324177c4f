"""Synthetic face embeddings with the similarity spread of real ones.

Random unit vectors in 512-d are almost orthogonal (cosine std 0.044), so any
index finds their nearest neighbour trivially. Real embeddings are not like
that: different people share a common direction and spread over far fewer
effective dimensions (impostor cosines of the real faces spread about twice as
wide), and two captures of one person differ by a capture-quality-dependent
amount. This generator reproduces both spreads from measured statistics (the
calibration table's genuine and impostor summaries), so matcher tests and
benchmarks meet the neighbourhood structure a real gallery has.

Model, per identity i and capture k::

    centre c_i  = normalise(sqrt(a) * m + sqrt(1 - a) * u_i)
    u_i         = normalise(B @ (sqrt(lambda) * z_i)),  z_i ~ N(0, I)
    capture x_ik = normalise(c_i + s_ik * nu_ik),       nu ~ N(0, I / dim)

``m`` is a shared mean direction (gives the impostor mean), ``lambda`` a power-law
spectrum over the directions orthogonal to ``m`` whose participation ratio
gives the impostor spread, and ``s = sqrt(1/q^2 - 1)`` with a capture quality
``q ~ Beta`` whose moments give the genuine mean and spread (cos(c, x) = q).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from biometrics.calibration import CalibrationTable, score_distributions
from biometrics.errors import BiometricsError

Matrix = npt.NDArray[np.float32]


class SyntheticError(BiometricsError):
    """The requested similarity spread cannot be produced by the model."""


@dataclass(frozen=True)
class SimilaritySpread:
    genuine_mean: float
    genuine_std: float
    impostor_mean: float
    impostor_std: float

    @classmethod
    def from_table(cls, table: CalibrationTable) -> SimilaritySpread:
        return cls(table.genuine.mean, table.genuine.std, table.impostor.mean, table.impostor.std)


@dataclass(frozen=True)
class SyntheticGallery:
    gallery: Matrix  # (n, dim): one enrollment capture per identity
    probe_ids: npt.NDArray[np.int64]  # (m,): which gallery row each probe belongs to
    probes: Matrix  # (m, dim): another capture of those identities


def _normalise(x: npt.NDArray[np.float64]) -> Matrix:
    out = x / np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(out, dtype=np.float32)


def _participation_ratio(p: float, n: int) -> float:
    lam = np.arange(1, n + 1, dtype=np.float64) ** -p
    return float(lam.sum() ** 2 / (lam**2).sum())


class SyntheticFaces:
    def __init__(self, spread: SimilaritySpread, dim: int = 512, seed: int = 0) -> None:
        self.spread = spread
        self.dim = dim
        g, sg = spread.genuine_mean, spread.genuine_std
        if not 0 < g < 1 or sg <= 0:
            raise SyntheticError(f"genuine mean/std {g}/{sg} out of range")
        # Capture quality q: E[q]^2 = genuine mean, E[q^2]^2 = genuine second moment.
        mean_q = float(np.sqrt(g))
        second_q = float(np.sqrt(sg**2 + g**2))
        var_q = second_q - mean_q**2
        if not 0 < var_q < mean_q * (1 - mean_q):
            raise SyntheticError("genuine spread cannot come from a Beta capture quality")
        k = mean_q * (1 - mean_q) / var_q - 1
        self.quality_beta = (mean_q * k, (1 - mean_q) * k)
        # Centre similarity C: the impostor score is about q1 * q2 * C.
        mean_c = spread.impostor_mean / g
        var_c = (spread.impostor_std**2 + g**2 * mean_c**2) / second_q**2 - mean_c**2
        if not 0 <= mean_c < 1 or var_c <= 0:
            raise SyntheticError("impostor spread cannot come from this model")
        self.shared = mean_c
        target_pr = (1 - mean_c) ** 2 / var_c
        self.effective_dims = min(target_pr, dim - 1.0)
        lo, hi = 0.0, 8.0
        for _ in range(60):  # participation ratio falls as the power grows
            mid = (lo + hi) / 2
            if _participation_ratio(mid, dim - 1) > self.effective_dims:
                lo = mid
            else:
                hi = mid
        spectrum = np.arange(1, dim, dtype=np.float64) ** -((lo + hi) / 2)
        rng = np.random.default_rng(seed)
        basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        self._mean_dir = basis[:, 0]
        # Directions orthogonal to the mean, scaled by the spectrum's square root.
        self._mixing = basis[:, 1:] * np.sqrt(spectrum / spectrum.sum() * (dim - 1))

    def centres(self, n: int, rng: np.random.Generator) -> Matrix:
        z = rng.standard_normal((n, self.dim - 1))
        u = z @ self._mixing.T
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        c = np.sqrt(self.shared) * self._mean_dir + np.sqrt(1 - self.shared) * u
        return _normalise(c)

    def captures(self, centres: Matrix, rng: np.random.Generator) -> Matrix:
        """One capture of each centre, with a random capture quality."""
        a, b = self.quality_beta
        q = np.clip(rng.beta(a, b, size=(centres.shape[0], 1)), 0.05, 0.9999)
        s = np.sqrt(1 / q**2 - 1)
        noise = rng.standard_normal(centres.shape) / np.sqrt(self.dim)
        return _normalise(centres + s * noise)

    def gallery(self, n: int, n_probes: int, seed: int, chunk: int = 65536) -> SyntheticGallery:
        """``n`` enrolled identities and ``n_probes`` probes of randomly chosen ones.

        The probes draw from their own random stream, so the gallery depends on
        ``n`` and ``seed`` only: more probes can be asked of the same gallery.
        Built in chunks, so memory stays at the gallery plus one chunk.
        """
        rng = np.random.default_rng([seed, 0])
        probe_rng = np.random.default_rng([seed, 1])
        probe_ids = np.sort(probe_rng.choice(n, size=min(n_probes, n), replace=False))
        gallery = np.empty((n, self.dim), dtype=np.float32)
        probes = np.empty((probe_ids.size, self.dim), dtype=np.float32)
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            centres = self.centres(stop - start, rng)
            gallery[start:stop] = self.captures(centres, rng)
            lo, hi = np.searchsorted(probe_ids, [start, stop])
            if hi > lo:
                probes[lo:hi] = self.captures(centres[probe_ids[lo:hi] - start], probe_rng)
        return SyntheticGallery(gallery, probe_ids.astype(np.int64), probes)

    def measure(self, identities: int, per_identity: int, seed: int) -> SimilaritySpread:
        """The spread this generator actually produces, measured like the real one."""
        rng = np.random.default_rng(seed)
        centres = self.centres(identities, rng)
        rows = np.concatenate([self.captures(centres, rng) for _ in range(per_identity)])
        labels = [str(i) for i in range(identities)] * per_identity
        genuine, impostor = score_distributions(labels, rows)
        return SimilaritySpread(
            float(genuine.mean()),
            float(genuine.std()),
            float(impostor.mean()),
            float(impostor.std()),
        )

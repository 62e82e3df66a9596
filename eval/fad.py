"""Fréchet audio distance: embedding statistics and the distance between two of them.

The challenge computes FAD with fadtk's ``clap-laion-music`` model. fadtk keeps every 10 s window of
every file as one sample (files are not averaged), stores the embeddings as float16, and fits a mean
and an unbiased (n - 1) covariance in float64; :func:`stats_from_embeddings` does the same.

The distance itself is computed in float64 with a square root that cannot go complex: with
S = C1^(1/2) (symmetric, from an eigendecomposition), tr((C1 C2)^(1/2)) = tr((S C2 S)^(1/2)), and
S C2 S is symmetric positive semi-definite, so its square root's trace is the sum of the square roots
of its (clamped non-negative) eigenvalues. fadtk takes the square root of the non-symmetric C1 C2 by a
general eigendecomposition and drops a small imaginary part; on well-conditioned covariances the two
agree to rounding, and on singular ones (fewer samples than dimensions) this one stays real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

STATS_FORMAT = "s2acc-fad-stats-v1"


@dataclass
class EmbeddingStats:
    mu: np.ndarray  # (d,) float64
    cov: np.ndarray  # (d, d) float64
    count: int  # number of embeddings (windows) the statistics were fitted on
    embedder: str  # e.g. "clap-laion-music"
    checkpoint_sha256: str | None = None
    extra: dict = field(default_factory=dict)  # provenance: files, clip seconds, ...

    def __post_init__(self) -> None:
        self.mu = np.asarray(self.mu, np.float64)
        self.cov = np.asarray(self.cov, np.float64)
        d = self.mu.shape[0] if self.mu.ndim == 1 else -1
        if self.mu.ndim != 1 or self.cov.shape != (d, d):
            raise ValueError(f"stats need mu (d,) and cov (d, d), got {self.mu.shape} and {self.cov.shape}")
        if not (np.all(np.isfinite(self.mu)) and np.all(np.isfinite(self.cov))):
            raise ValueError(
                "stats hold NaN or inf (a file with a single window gives an undefined covariance)"
            )

    def save(self, path: str | Path) -> Path:
        """An .npz with the arrays and a JSON header naming the embedder and checkpoint."""
        path = Path(path)
        meta = {
            "format": STATS_FORMAT,
            "count": self.count,
            "embedder": self.embedder,
            "checkpoint_sha256": self.checkpoint_sha256,
            "extra": self.extra,
        }
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, mu=self.mu, cov=self.cov, meta=np.array(json.dumps(meta)))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> EmbeddingStats:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                mu, cov = data["mu"], data["cov"]
        except (OSError, KeyError, ValueError, TypeError, AttributeError) as err:  # TypeError: a bare .npy
            raise ValueError(f"{path}: not a FAD statistics file ({err})") from err
        if meta.get("format") != STATS_FORMAT:
            raise ValueError(f"{path}: unknown statistics format {meta.get('format')!r}")
        return cls(
            mu,
            cov,
            int(meta["count"]),
            meta["embedder"],
            meta.get("checkpoint_sha256"),
            meta.get("extra", {}),
        )


EMBEDDING_DTYPE = np.float16  # fadtk stores window embeddings at this precision before fitting


def stats_from_embeddings(
    per_file: list[np.ndarray], embedder: str, checkpoint_sha256: str | None = None, extra: dict | None = None
) -> EmbeddingStats:
    """Mean and covariance over every window of every file, from float16-rounded embeddings."""
    if not per_file:
        raise ValueError("no embeddings to fit statistics on")
    x = np.concatenate([np.atleast_2d(np.asarray(e, EMBEDDING_DTYPE)) for e in per_file]).astype(np.float64)
    if len(x) < 2:
        raise ValueError(f"need at least 2 embeddings for a covariance, got {len(x)}")
    return EmbeddingStats(
        x.mean(axis=0), np.cov(x, rowvar=False), len(x), embedder, checkpoint_sha256, extra or {}
    )


def _psd_sqrt(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(cov1: np.ndarray, cov2: np.ndarray) -> float:
    """tr((C1 C2)^(1/2)) for symmetric positive semi-definite C1, C2, real by construction."""
    s = _psd_sqrt(np.asarray(cov1, np.float64))
    m = s @ np.asarray(cov2, np.float64) @ s
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^(1/2)), never negative."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, cov {cov1.shape} vs {cov2.shape}")
    diff = mu1 - mu2
    value = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt_product(cov1, cov2)
    return float(max(value, 0.0))


def fad(a: EmbeddingStats, b: EmbeddingStats) -> float:
    """FAD between two sets of statistics from the same embedder."""
    if a.embedder != b.embedder:
        raise ValueError(f"statistics from different embedders: {a.embedder!r} vs {b.embedder!r}")
    if a.checkpoint_sha256 and b.checkpoint_sha256 and a.checkpoint_sha256 != b.checkpoint_sha256:
        raise ValueError("statistics from different checkpoints of the same embedder")
    return frechet_distance(a.mu, a.cov, b.mu, b.cov)

"""Bootstrap intervals: every figure over clips, tracks or seeds carries one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def bootstrap_interval(
    samples: Sequence | np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    n: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> list[float]:
    """The percentile interval of ``statistic`` over ``n`` resamples (with replacement) of ``samples``
    along their first axis; rows stay together, so a statistic of paired columns resamples pairs."""
    samples = np.asarray(samples, dtype=float)
    rng = np.random.default_rng(seed)
    draws = [statistic(samples[rng.integers(0, len(samples), len(samples))]) for _ in range(n)]
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return [round(float(low), 4), round(float(high), 4)]


def share(flags: Sequence[bool], n: int = 2000, seed: int = 0) -> dict:
    """The share of true flags, with its bootstrap interval and the count it is over."""
    values = np.asarray(flags, dtype=float)
    if not len(values):
        return {"value": None, "interval_95": [None, None], "clips": 0}
    return {
        "value": round(float(values.mean()), 4),
        "interval_95": bootstrap_interval(values, n=n, seed=seed),
        "clips": int(len(values)),
    }


def ratio_of_means(pairs: np.ndarray) -> float:
    """mean(column 0) / mean(column 1) of an (n, 2) array."""
    return float(pairs[:, 0].mean() / pairs[:, 1].mean())

"""The challenge's ranking: a Borda count over FAD, CLAP score and CCS, per track.

Each metric ranks the entries (FAD ascending, CLAP and CCS descending; equal values share the best
rank among them), the three ranks are summed, and entries sort by the sum ascending (equal sums share
a place). :func:`place_among_published` ranks a run together with the published ATTM results.
"""

from __future__ import annotations

import pandas as pd

# Lower is better for FAD, higher for the other two.
METRICS = {"fad": True, "clap": False, "ccs": False}

# Published objective-phase results (the challenge's overview; e = efficiency, p = performance track).
PUBLISHED = pd.DataFrame(
    [
        ("e00", 0.556, 0.310, 0.796),
        ("e01", 0.577, 0.338, 0.863),
        ("e02", 0.498, 0.270, 0.763),
        ("e03", 0.518, 0.251, 0.763),
        ("e04", 0.574, 0.195, 0.833),
        ("e05", 0.487, 0.305, 0.800),
        ("e06", 0.667, 0.268, 0.808),
        ("e07", 0.417, 0.261, 0.867),
        ("e08", 0.495, 0.295, 0.804),
        ("e09", 0.646, 0.263, 0.767),
        ("e10", 0.482, 0.163, 0.738),
        ("e11", 0.892, 0.097, 0.675),
        ("p00", 0.557, 0.311, 0.796),
        ("p05", 0.514, 0.306, 0.800),
        ("p09", 0.646, 0.260, 0.767),
        ("p10", 0.500, 0.171, 0.721),
    ],
    columns=["id", "fad", "clap", "ccs"],
)


def borda(table: pd.DataFrame, metrics: dict[str, bool] = METRICS) -> pd.DataFrame:
    """``table`` with ``<metric>_rank``, ``borda`` (sum of ranks) and ``place`` (1 = best), sorted.

    An entry missing a metric ranks last on it (the challenge scores every entry on all three).
    """
    missing = [m for m in metrics if m not in table.columns]
    if missing:
        raise ValueError(f"ranking needs columns {sorted(metrics)}; missing {missing}")
    out = table.copy()
    for metric, lower_is_better in metrics.items():
        out[f"{metric}_rank"] = (
            out[metric]
            .astype(float)
            .rank(ascending=lower_is_better, method="min", na_option="bottom")
            .astype(int)
        )
    out["borda"] = out[[f"{m}_rank" for m in metrics]].sum(axis=1)
    out["place"] = out["borda"].rank(ascending=True, method="min").astype(int)
    order = ["place", "id"] if "id" in out.columns else ["place"]
    return out.sort_values(order, kind="stable").reset_index(drop=True)


def place_among_published(run: dict, track: str = "e") -> pd.DataFrame:
    """Borda table of ``run`` (keys id, fad, clap, ccs) among the published entries of one track."""
    if track not in ("e", "p"):
        raise ValueError("track is 'e' (efficiency) or 'p' (performance)")
    field = PUBLISHED[PUBLISHED["id"].str.startswith(track)]
    return borda(pd.concat([field, pd.DataFrame([run])], ignore_index=True))

"""Stage 7, select: combine the two grades, rank, keep the top fraction, split train/val by track."""

from __future__ import annotations

import hashlib
import math

import pandas as pd

from data_pipeline.config import SelectConfig

DATASET_COLUMNS = [
    "segment_id",
    "track_id",
    "seg_idx",
    "start",
    "end",
    "duration",
    "label",
    "caption",
    "aesthetics",
    "alignment",
    "score",
    "rank",
    "selected",
    "split",
]


def split_of(track_id: str, seed: int, val_fraction: float) -> str:
    """A stable train/val assignment per track (never per segment: no track leaks across splits)."""
    h = int(hashlib.sha256(f"{seed}:{track_id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if h < val_fraction else "train"


def select(
    graded: pd.DataFrame, cfg: SelectConfig, weights: dict[str, float], vocal_tracks: set[str] = frozenset()
) -> pd.DataFrame:
    """Rank every graded segment on the combined score and mark the kept ones.

    ``graded`` holds one row per segment with ``aesthetics`` and ``alignment``. The cut keeps
    ``ceil(fraction * n)`` segments (at most ``max_per_track`` per track when set); segments of tracks
    flagged with residual vocals are never kept when ``drop_vocal_tracks``.
    """
    from data_pipeline.grading import combine

    table = combine(graded.copy(), weights).sort_values(["rank", "segment_id"], kind="stable")
    quota = math.ceil(cfg.fraction * len(table))
    per_track: dict[str, int] = {}
    keep = []
    for row in table.itertuples():
        ok = len(keep) < quota and not (cfg.drop_vocal_tracks and row.track_id in vocal_tracks)
        ok = ok and not pd.isna(row.score)
        if ok and cfg.max_per_track:
            ok = per_track.get(row.track_id, 0) < cfg.max_per_track
        if ok:
            per_track[row.track_id] = per_track.get(row.track_id, 0) + 1
            keep.append(row.segment_id)
    table["selected"] = table["segment_id"].isin(set(keep))
    table["split"] = [split_of(t, cfg.seed, cfg.val_fraction) for t in table["track_id"]]
    extra = [c for c in table.columns if c not in DATASET_COLUMNS]
    return table[[c for c in DATASET_COLUMNS if c in table.columns] + extra].reset_index(drop=True)

"""Stage 8, encode: graded segments to VAE latents for DiT training.

Each track's segments go into one safetensors shard, ``latents/{track}.safetensors``, keyed by
segment id, each tensor (latent_dim, frames) in the configured dtype. A segment is encoded from its
own audio (start to end), zero-padded to whole latent frames; long segments are coded in overlapping
chunks, which equal a single pass (see ``s2acc.vae.oobleck``). ``latents/stats.json`` holds the
per-channel mean and std over every frame of the train split, which the DiT uses to normalise.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd


def encode_segments(
    vae,
    read: Callable[[float, float], np.ndarray],
    segments: pd.DataFrame,
    chunk_frames: int,
    device: str = "cpu",
):
    """{segment_id: latents (dim, frames) float32} for the segments of one track, each read on its own
    by ``read(start, end)`` (seconds)."""
    import torch

    from s2acc.vae import encode

    out = {}
    for row in segments.itertuples():
        clip = read(row.start, row.end)
        x = torch.from_numpy(np.ascontiguousarray(clip))[None].to(device)
        out[str(row.segment_id)] = encode(vae, x, chunk_frames=chunk_frames)[0].float().cpu()
    return out


def latent_stats(out: Path, encoded: pd.DataFrame, dataset: pd.DataFrame, vae: str) -> dict:
    """Per-channel mean and std of the train split's latent frames (all segments when it is empty)."""
    from safetensors import safe_open

    train = set(dataset.loc[dataset["split"] == "train", "segment_id"])
    rows = encoded[encoded["segment_id"].isin(train)] if encoded["segment_id"].isin(train).any() else encoded
    total = sum_sq = None
    frames = 0
    for shard, group in rows.groupby("latent_file"):
        with safe_open(str(out / shard), framework="pt") as f:
            for segment_id in group["segment_id"]:
                z = f.get_tensor(str(segment_id)).double()
                total = z.sum(1) if total is None else total + z.sum(1)
                sum_sq = z.pow(2).sum(1) if sum_sq is None else sum_sq + z.pow(2).sum(1)
                frames += z.shape[1]
    if not frames:
        return {"vae": vae, "frames": 0, "segments": 0, "mean": [], "std": []}
    mean = total / frames
    std = (sum_sq / frames - mean.pow(2)).clamp(min=0).sqrt()
    return {
        "vae": vae,
        "frames": frames,
        "segments": int(len(rows)),
        "mean": [round(float(v), 6) for v in mean],
        "std": [round(float(v), 6) for v in std],
    }

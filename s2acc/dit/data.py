"""DiT training examples: encoded segments (latent shards) with their captions and timing.

Reads a dataset folder after its encode stage: ``encode.parquet`` (segment -> shard, frames),
``dataset.parquet`` (caption, split, selected) and ``latents/stats.json`` (per-channel mean and std,
used to normalise the latents to unit scale). Segments longer than ``max_frames`` are cropped at a
position drawn from (seed, epoch, index) alone, as the VAE crops are, so a resumed run sees the same
examples; the timing condition then says where the crop starts and how long the segment is.

Each example also carries a noise seed drawn the same way: the flow-matching noise, timestep and
guidance dropout of an example come from it, so training draws the same numbers for an example
whichever process, batch or resumed run it lands in (N processes then train exactly as one).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from s2acc.rates import LATENT_RATE


class LatentStats:
    def __init__(self, mean: list[float], std: list[float]):
        self.mean = torch.tensor(mean, dtype=torch.float32)[:, None]
        self.std = torch.tensor(std, dtype=torch.float32).clamp(min=1e-4)[:, None]

    @classmethod
    def load(cls, path: str | Path) -> LatentStats:
        data = json.loads(Path(path).read_text())
        if not data.get("mean"):
            raise ValueError(f"{path}: no latent statistics (the encode stage found no frames)")
        return cls(data["mean"], data["std"])

    def to_dict(self) -> dict:
        return {"mean": self.mean[:, 0].tolist(), "std": self.std[:, 0].tolist()}

    def normalise(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean.to(z)) / self.std.to(z)

    def denormalise(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std.to(z) + self.mean.to(z)


@functools.lru_cache(maxsize=64)
def _shard(path: str):
    from safetensors.torch import load_file

    return load_file(path)


def latent_table(
    folder: str | Path, split: str | None = "train", selected_only: bool = False
) -> pd.DataFrame:
    """One row per encoded segment: segment_id, latent_file, frames, caption, split, selected."""
    folder = Path(folder)
    for name in ("encode", "dataset"):
        if not (folder / f"{name}.parquet").exists():
            raise FileNotFoundError(
                f"{folder / f'{name}.parquet'} is missing: run the dataset job with its encode stage "
                "(s2acc data run ... --stages encode encode.vae=<VAE export>)"
            )
    encoded = pd.read_parquet(folder / "encode.parquet")
    meta = pd.read_parquet(folder / "dataset.parquet")[["segment_id", "caption", "split", "selected"]]
    table = encoded.merge(meta, on="segment_id")
    if split is not None:
        table = table[table["split"] == split]
    if selected_only:
        table = table[table["selected"]]
    return table.sort_values("segment_id").reset_index(drop=True)


class LatentDataset(Dataset):
    def __init__(
        self,
        folder: str | Path,
        split: str | None = "train",
        selected_only: bool = False,
        max_frames: int = 646,  # 30 s
        seed: int = 0,
    ):
        self.folder = Path(folder)
        self.table = latent_table(folder, split, selected_only)
        if not len(self.table):
            raise ValueError(
                f"{folder}: no encoded segments in split {split!r} (selected_only={selected_only})"
            )
        self.stats = LatentStats.load(self.folder / "latents" / "stats.json")
        self.max_frames, self.seed, self.epoch = max_frames, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int) -> dict:
        row = self.table.iloc[index]
        z = _shard(str(self.folder / row["latent_file"]))[row["segment_id"]].float()
        frames = z.shape[1]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        noise_seed = int(rng.integers(0, 2**62))
        start = 0
        if frames > self.max_frames:
            start = int(rng.integers(0, frames - self.max_frames + 1))
            z = z[:, start : start + self.max_frames]
        return {
            "latents": self.stats.normalise(z),
            "caption": str(row["caption"]),
            "seconds_start": start / LATENT_RATE,
            "seconds_total": frames / LATENT_RATE,
            "noise_seed": noise_seed,
        }


def collate(items: list[dict]) -> dict:
    """Pad latents to the longest in the batch, with a frame mask."""
    longest = max(item["latents"].shape[1] for item in items)
    dim = items[0]["latents"].shape[0]
    latents = torch.zeros(len(items), dim, longest)
    mask = torch.zeros(len(items), longest, dtype=torch.bool)
    for i, item in enumerate(items):
        n = item["latents"].shape[1]
        latents[i, :, :n] = item["latents"]
        mask[i, :n] = True
    return {
        "latents": latents,
        "frame_mask": mask,
        "captions": [item["caption"] for item in items],
        "seconds_start": torch.tensor([item["seconds_start"] for item in items], dtype=torch.float32),
        "seconds_total": torch.tensor([item["seconds_total"] for item in items], dtype=torch.float32),
        "noise_seed": torch.tensor([item["noise_seed"] for item in items], dtype=torch.int64),
    }

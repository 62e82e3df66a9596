"""Training and held-out clips for the VAE: short crops of graded segments with lead-sheet targets.

A crop starts on a latent frame of its track (a multiple of the VAE's hop), so the lead-sheet arrays,
which must sit on the same grid, give its targets by slicing. Where a crop falls is a function of
(seed, epoch, index) only, never of the global random state, which is what makes a resumed run see
the same crops as an uninterrupted one.

The clips come from a dataset folder written by ``s2acc data run``: ``dataset.parquet`` (segments with
their split), ``ingest.parquet`` (each track's audio path) and ``leadsheet.parquet`` (each track's
lead-sheet file, relative to the folder).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from s2acc.audio import read_audio, to_stereo
from s2acc.leadsheet import LeadSheet
from s2acc.rates import HOP, SAMPLE_RATE
from s2acc.vae.distill import leadsheet_targets


@dataclass(frozen=True)
class Clip:
    """One segment of one track: the audio file, the segment's span in seconds, its lead sheet."""

    clip_id: str
    path: str
    start: float
    end: float
    leadsheet: str | None = None


def clips_from_dataset(
    folder: str | Path, split: str | None = "train", selected_only: bool = False
) -> list[Clip]:
    """The segments of a dataset folder as clips; ``split`` None takes both splits."""
    folder = Path(folder)
    needed = {name: folder / f"{name}.parquet" for name in ("dataset", "ingest", "leadsheet")}
    for path in needed.values():
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: {folder} is not a finished dataset (s2acc data run)")
    segments = pd.read_parquet(needed["dataset"])
    if split is not None:
        segments = segments[segments["split"] == split]
    if selected_only:
        segments = segments[segments["selected"]]
    paths = pd.read_parquet(needed["ingest"]).set_index("track_id")["path"].to_dict()
    sheets = pd.read_parquet(needed["leadsheet"]).set_index("track_id")["leadsheet"].to_dict()
    clips = []
    for row in segments.sort_values("segment_id").itertuples():
        sheet = sheets.get(row.track_id)
        clips.append(
            Clip(
                clip_id=str(row.segment_id),
                path=str(paths[row.track_id]),
                start=float(row.start),
                end=float(row.end),
                leadsheet=str(folder / sheet) if sheet else None,
            )
        )
    return clips


@functools.lru_cache(maxsize=256)
def _sheet(path: str, frame_rate: float) -> LeadSheet:
    sheet = LeadSheet.load(path)
    if not math.isclose(sheet.frame_rate, frame_rate, rel_tol=1e-6):
        raise ValueError(
            f"{path}: lead sheet at {sheet.frame_rate:.4f} frames/s, but the VAE makes {frame_rate:.4f} "
            "latent frames/s; rerun the leadsheet stage with leadsheet.frame_rate set to the VAE's rate"
        )
    return sheet


class CropDataset(Dataset):
    """Fixed-length crops of clips, with lead-sheet targets when the clip has a lead sheet.

    ``random=True`` draws a fresh start frame per (seed, epoch, index) for training; ``random=False``
    takes each clip's centre crop, the same every time, for held-out evaluation. Clips shorter than
    the crop are zero-padded, and the padded frames are masked out of the distillation loss.
    """

    def __init__(
        self,
        clips: list[Clip],
        crop_seconds: float = 3.0,
        seed: int = 0,
        random: bool = True,
        hop: int = HOP,
    ):
        if not clips:
            raise ValueError("no clips to crop: the dataset split is empty")
        self.clips, self.seed, self.random, self.epoch, self.hop = clips, seed, random, 0, hop
        self.frames = max(1, round(crop_seconds * SAMPLE_RATE / hop))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.clips)

    def _start_frame(self, index: int) -> int:
        clip = self.clips[index]
        first = math.ceil(clip.start * SAMPLE_RATE / self.hop)
        last = max(first, math.floor(clip.end * SAMPLE_RATE / self.hop) - self.frames)
        if not self.random:
            return (first + last) // 2
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return int(rng.integers(first, last + 1))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        clip, hop = self.clips[index], self.hop
        frame = self._start_frame(index)
        samples = self.frames * hop
        audio, _ = read_audio(
            clip.path, sr=SAMPLE_RATE, offset=frame * hop / SAMPLE_RATE, duration=samples / SAMPLE_RATE
        )
        audio = to_stereo(audio)[:, :samples]
        valid = min(
            self.frames,
            math.ceil(audio.shape[1] / hop),
            max(0, math.ceil((clip.end * SAMPLE_RATE - frame * hop) / hop)),
        )
        out = np.zeros((2, samples), np.float32)
        out[:, : audio.shape[1]] = audio
        item = {"audio": torch.from_numpy(out), "mask": torch.arange(self.frames) < valid}
        if clip.leadsheet:
            item.update(leadsheet_targets(_sheet(clip.leadsheet, SAMPLE_RATE / hop), frame, self.frames))
        return item

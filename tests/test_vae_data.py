"""VAE training crops: where they fall, what they hold, and that they depend only on (seed, epoch, index)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from s2acc.audio import read_audio, to_stereo
from s2acc.leadsheet import LeadSheet
from s2acc.vae.data import CropDataset, clips_from_dataset
from s2acc.vae.distill import leadsheet_targets
from s2acc.vae.oobleck import HOP, SAMPLE_RATE


def test_clips_follow_the_dataset_split(graded_dataset):
    table = pd.read_parquet(graded_dataset / "dataset.parquet")
    train = clips_from_dataset(graded_dataset, "train")
    val = clips_from_dataset(graded_dataset, "val")
    assert {c.clip_id for c in train} == set(table.loc[table["split"] == "train", "segment_id"])
    assert {c.clip_id for c in val} == set(table.loc[table["split"] == "val", "segment_id"])
    assert len(train) and len(val)
    chosen = clips_from_dataset(graded_dataset, None, selected_only=True)
    assert {c.clip_id for c in chosen} == set(table.loc[table["selected"], "segment_id"])
    assert all(c.leadsheet and c.end > c.start for c in train + val)


def test_a_missing_table_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset.parquet"):
        clips_from_dataset(tmp_path)


def test_crops_start_on_latent_frames_inside_their_segment_with_matching_targets(graded_dataset):
    clips = clips_from_dataset(graded_dataset, "train")
    data = CropDataset(clips, crop_seconds=1.0, seed=3)
    for index in range(len(clips)):
        clip, start = clips[index], data._start_frame(index)
        assert start * HOP >= clip.start * SAMPLE_RATE - 1e-6
        assert (start + data.frames) * HOP <= clip.end * SAMPLE_RATE + 1e-6
    item = data[0]
    start = data._start_frame(0)
    assert item["audio"].shape == (2, data.frames * HOP) and bool(item["mask"].all())
    whole, _ = read_audio(clips[0].path, sr=SAMPLE_RATE)
    expected = to_stereo(whole)[:, start * HOP : (start + data.frames) * HOP]
    np.testing.assert_allclose(item["audio"].numpy(), expected, atol=1e-6)
    targets = leadsheet_targets(LeadSheet.load(clips[0].leadsheet), start, data.frames)
    for key in ("features", "chord", "pitch_class", "beat"):
        assert torch.equal(item[key], targets[key]), key


def test_crop_positions_are_a_function_of_seed_epoch_and_index(graded_dataset):
    clips = clips_from_dataset(graded_dataset, "train")
    a, b = CropDataset(clips, 1.0, seed=0), CropDataset(clips, 1.0, seed=0)
    torch.manual_seed(123)
    np.random.seed(123)  # the global state plays no part
    first = [a._start_frame(i) for i in range(len(clips))]
    assert first == [b._start_frame(i) for i in range(len(clips))]
    a.set_epoch(1)
    assert [a._start_frame(i) for i in range(len(clips))] != first
    fixed = CropDataset(clips, 1.0, random=False)
    centre = [fixed._start_frame(i) for i in range(len(clips))]
    fixed.set_epoch(5)
    assert [fixed._start_frame(i) for i in range(len(clips))] == centre


def test_a_crop_longer_than_its_segment_is_masked_past_the_segment_end(graded_dataset):
    clips = clips_from_dataset(graded_dataset, "val")
    data = CropDataset(clips, crop_seconds=30.0, random=False)
    item = data[0]
    valid = int(item["mask"].sum())
    span = clips[0].end * SAMPLE_RATE / HOP - data._start_frame(0)
    assert 0 < valid < data.frames and abs(valid - span) <= 1

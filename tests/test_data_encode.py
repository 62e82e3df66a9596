"""The encode stage: graded segments to latent shards and normalisation statistics."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from data_pipeline.config import DataConfig
from data_pipeline.pipeline import run_pipeline
from data_pipeline.tracks import load_track
from s2acc.config import ConfigError, load_config
from s2acc.vae import build_vae, encode


@pytest.fixture()
def dataset(graded_dataset, tmp_path):
    out = tmp_path / "dataset"
    shutil.copytree(graded_dataset, out)
    return out


def config(out, *extra) -> DataConfig:
    return load_config(DataConfig, out / "config.yaml", [f"out={out}", *extra])


def test_encode_writes_one_shard_per_track_equal_to_direct_encoding(dataset):
    run_pipeline(config(dataset, "encode.vae=tiny"), ["encode"], progress=False)
    segments = pd.read_parquet(dataset / "dataset.parquet")
    rows = pd.read_parquet(dataset / "encode.parquet")
    assert sorted(rows["segment_id"]) == sorted(segments["segment_id"])
    assert rows.groupby("track_id")["latent_file"].nunique().eq(1).all()

    vae = build_vae("tiny")
    paths = pd.read_parquet(dataset / "ingest.parquet").set_index("track_id")["path"]
    row = rows.iloc[0]
    seg = segments.set_index("segment_id").loc[row["segment_id"]]
    audio = load_track(paths[row["track_id"]], 44100)[
        :, int(round(seg["start"] * 44100)) : int(round(seg["end"] * 44100))
    ]
    expected = encode(vae, torch.from_numpy(audio)[None])[0]
    stored = load_file(str(dataset / row["latent_file"]))[row["segment_id"]]
    assert stored.dtype == torch.float16 and stored.shape == expected.shape == (16, row["frames"])
    torch.testing.assert_close(stored.float(), expected, atol=2e-3, rtol=2e-3)

    stats = json.loads((dataset / "latents" / "stats.json").read_text())
    train = set(segments.loc[segments["split"] == "train", "segment_id"])
    assert stats["frames"] == int(rows.loc[rows["segment_id"].isin(train), "frames"].sum())
    assert len(stats["mean"]) == len(stats["std"]) == 16 and min(stats["std"]) > 0

    # A rerun finds every track done and rewrites nothing.
    stamps = {p: p.stat().st_mtime_ns for p in (dataset / "latents").glob("*.safetensors")}
    run_pipeline(config(dataset, "encode.vae=tiny"), ["encode"], progress=False)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_latent_statistics_match_the_shards(dataset):
    run_pipeline(config(dataset, "encode.vae=tiny", "encode.dtype=float32"), ["encode"], progress=False)
    rows = pd.read_parquet(dataset / "encode.parquet")
    segments = pd.read_parquet(dataset / "dataset.parquet")
    train = set(segments.loc[segments["split"] == "train", "segment_id"])
    frames = np.concatenate(
        [
            load_file(str(dataset / r.latent_file))[r.segment_id].numpy().T
            for r in rows.itertuples()
            if r.segment_id in train
        ]
    )
    stats = json.loads((dataset / "latents" / "stats.json").read_text())
    np.testing.assert_allclose(stats["mean"], frames.mean(0), atol=1e-5)
    np.testing.assert_allclose(stats["std"], frames.std(0), atol=1e-5)


def test_encode_without_a_vae_is_refused(dataset):
    with pytest.raises(ConfigError, match="encode.vae"):
        run_pipeline(config(dataset), ["encode"], progress=False)
    assert "encode" not in DataConfig().stages  # never part of a default run


def test_encode_can_code_only_the_selected_segments(dataset):
    run_pipeline(config(dataset, "encode.vae=tiny", "encode.segments=selected"), ["encode"], progress=False)
    segments = pd.read_parquet(dataset / "dataset.parquet")
    rows = pd.read_parquet(dataset / "encode.parquet")
    chosen = segments.loc[segments["selected"], "segment_id"]
    assert 0 < len(chosen) < len(segments) and sorted(rows["segment_id"]) == sorted(chosen)
    # Asking for every segment afterwards codes the rest: nothing is left out for the earlier subset.
    run_pipeline(config(dataset, "encode.vae=tiny", "encode.segments=all"), ["encode"], progress=False)
    rows = pd.read_parquet(dataset / "encode.parquet")
    assert sorted(rows["segment_id"]) == sorted(segments["segment_id"])
    with pytest.raises(ConfigError, match="encode.segments"):
        config(dataset, "encode.segments=some")


def test_a_registry_vae_is_fingerprinted_by_its_recorded_digests():
    from data_pipeline.pipeline import vae_fingerprint
    from s2acc.hub import default_registry

    digest = default_registry()["small-vae"].checksums["model.safetensors"]
    assert digest in str(vae_fingerprint("small-vae"))  # re-bundling it changes the encode stage's hash
    assert vae_fingerprint("tiny") == ["tiny"]

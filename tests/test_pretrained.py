"""The small models s2acc trains and ships: registered with their digests and the command that rebuilds
them, present in the source tree, and loaded strictly."""

from __future__ import annotations

import json

import torch

from s2acc.hub import default_registry
from s2acc.vae import SMALL_CONFIG, decode, encode, open_vae


def test_the_small_vae_matches_its_registered_digests_and_loads_strictly():
    registry = default_registry()
    entry = registry["small-vae"]
    assert entry.kind == "bundled" and entry.command.startswith("make pretrain-small")
    assert registry.status("small-vae") == "ok"  # every file present and equal to its sha256
    folder = registry.resolve("small-vae")
    config = json.loads((folder / "config.json").read_text())
    assert {k: config[k] for k in SMALL_CONFIG} == SMALL_CONFIG and config["distillation"]["distill"] == 0
    vae = open_vae("small-vae")  # strict: a missing or unexpected key would raise
    audio = 0.1 * torch.randn(1, 2, 2048 * 8, generator=torch.Generator().manual_seed(0))
    latents = encode(vae, audio)
    assert latents.shape == (1, 32, 8) and torch.isfinite(latents).all()
    assert decode(vae, latents).shape == audio.shape


def test_the_small_dit_matches_its_registered_digests_loads_strictly_and_samples():
    from pathlib import Path

    import yaml

    from s2acc.dit.export import load_dit
    from s2acc.dit.generate import Generator

    registry = default_registry()
    entry = registry["small-dit"]
    assert entry.kind == "bundled" and entry.command.startswith("make pretrain-small")
    assert registry.status("small-dit") == "ok"
    model, meta = load_dit("small-dit")  # strict
    shipped = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs/dit/small.yaml").read_text())
    assert {k: meta["dit"][k] for k in shipped["model"]} == shipped["model"]
    assert meta["vae"] == "small-vae" and meta["text_encoder"] == "minilm" and meta["stage"] == "pretrain"
    latents = Generator(model, meta).latents(["an upbeat rock track"], seconds=1.0, seeds=[0], steps=2)
    assert latents.shape == (1, 32, 22) and torch.isfinite(latents).all()

"""DiT training, export and generation on the tiny config, and the overfit check."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf
import torch

from s2acc.cli import main
from s2acc.config import ConfigError, load_config
from s2acc.dit.data import LatentDataset, collate
from s2acc.dit.flow import flow_matching_loss, guided, sample
from s2acc.dit.generate import Generator, fit_peak, generate_csv, read_prompts
from s2acc.dit.model import DiTConfig, LatentDiT
from s2acc.dit.text import make_text_encoder
from s2acc.dit.train import DiTTrainConfig, build_trainer, load_dit, train_dit

ROOT = Path(__file__).resolve().parents[1]


def tiny(dataset: Path, out: Path, *extra: str) -> DiTTrainConfig:
    return load_config(
        DiTTrainConfig,
        ROOT / "configs/dit/tiny.yaml",
        [
            f"out={out}",
            f"data.dataset={dataset}",
            "vae=tiny",
            "train.batch_size=2",
            "train.max_steps=3",
            "train.log_every=1",
            "train.tracker=none",
            *extra,
        ],
    )


def test_examples_are_normalised_padded_and_timed(encoded_dataset):
    data = LatentDataset(encoded_dataset, max_frames=40)
    items = [data[i] for i in range(3)]
    batch = collate(items)
    longest = max(it["latents"].shape[1] for it in items)
    assert batch["latents"].shape == (3, 16, longest) and batch["frame_mask"].sum(1).max() == longest
    assert all(it["latents"].shape[1] <= 40 and it["caption"] for it in items)
    assert all(0 <= it["seconds_start"] < it["seconds_total"] for it in items)
    everything = torch.cat([data[i]["latents"] for i in range(len(data))], dim=1)
    assert everything.mean().abs() < 0.5 and 0.5 < everything.std() < 2  # the stats normalise


def test_a_run_exports_a_model_that_generates_wavs(encoded_dataset, tmp_path):
    export = train_dit(tiny(encoded_dataset, tmp_path / "run"), progress_bar=False)
    model, meta = load_dit(export)
    assert meta["text_encoder"] == "minilm" and len(meta["latent_stats"]["mean"]) == 16
    prompts = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "prompt": ["", "Café jazz à Paris — calme 🎷", "drums " * 400],
            "genre": ["x", "y", "z"],
        }
    )
    gen = Generator(model, meta, vae=None)
    table = generate_csv(gen, prompts, tmp_path / "clips", seconds=1.0, batch_size=2, progress=False, steps=2)
    for prompt_id in prompts["id"]:
        audio, sr = sf.read(tmp_path / "clips" / f"{prompt_id}.wav")
        assert sr == 44100 and audio.shape[0] >= 44100 and audio.shape[1] == 2
        assert abs(audio).max() > 0
    assert list(table["genre"]) == ["x", "y", "z"] and table["seed"].nunique() == 3
    # Per-prompt seeds: the same clip whatever batch it falls in.
    alone = gen.audio(["Café jazz à Paris — calme 🎷"], 1.0, [int(table["seed"][1])], steps=2)
    clip, _ = sf.read(tmp_path / "clips" / "b.wav", dtype="float32")
    expected = alone[0] * float(table["gain"][1])
    torch.testing.assert_close(expected.T, torch.from_numpy(clip), atol=1e-4, rtol=0)
    stamp = (tmp_path / "clips" / "a.wav").stat().st_mtime_ns
    generate_csv(gen, prompts, tmp_path / "clips", seconds=1.0, progress=False, steps=2)
    assert (tmp_path / "clips" / "a.wav").stat().st_mtime_ns == stamp  # a rerun keeps what is done
    # bf16 autocast: the same clip to bf16 rounding, still fp32 out
    seed = [int(table["seed"][1])]
    half = gen.audio(["Café jazz à Paris — calme 🎷"], 1.0, seed, steps=2, precision="bf16")
    assert half.dtype == torch.float32 and half.shape == alone.shape
    assert not torch.equal(half, alone)
    assert torch.corrcoef(torch.stack([half.flatten(), alone.flatten()]))[0, 1] > 0.95
    with pytest.raises(ValueError, match="precision"):
        gen.audio(["x"], 1.0, [0], steps=2, precision="fp8")


def test_sft_starts_from_the_pretrain_export(encoded_dataset, tmp_path):
    export = train_dit(tiny(encoded_dataset, tmp_path / "pre"), progress_bar=False)
    sft = build_trainer(
        tiny(encoded_dataset, tmp_path / "sft", "stage.stage=sft", f"stage.init={export}"), False
    )
    pre, _ = load_dit(export)
    for key, value in pre.state_dict().items():
        assert torch.equal(sft.unwrapped.state_dict()[key], value), key
    assert len(sft.dataset) < len(LatentDataset(encoded_dataset))  # only the selected segments
    with pytest.raises(ConfigError, match="init"):
        tiny(encoded_dataset, tmp_path / "x", "stage.stage=sft")
    with pytest.raises(ValueError, match="shape"):
        build_trainer(
            tiny(encoded_dataset, tmp_path / "y", "stage.stage=sft", f"stage.init={export}", "model.depth=3"),
            False,
        )


def test_prompt_files_are_checked(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text\n1,hello\n")
    with pytest.raises(ValueError, match="prompt"):
        read_prompts(bad)
    bad.write_text("id,prompt\n1,a\n1,b\n")
    with pytest.raises(ValueError, match="duplicate"):
        read_prompts(bad)
    bad.write_text("id,prompt\n../x,a\n")
    with pytest.raises(ValueError, match="file names"):
        read_prompts(bad)
    assert (
        main(["generate", "--checkpoint", str(tmp_path), "--prompts", str(bad), "--out", str(tmp_path / "o")])
        == 2
    )


@pytest.mark.slow
def test_overfit_each_caption_recalls_its_own_clip():
    """Four latent clips, four captions: after training, sampling with a caption lands closest (cosine)
    to that caption's clip."""
    captions = [
        "slow sad piano ballad",
        "fast aggressive metal with drums",
        "bright reggae with organ",
        "dark ambient drone",
    ]
    g = torch.Generator().manual_seed(0)
    clips = torch.randn(4, 8, 24, generator=g)
    encoder = make_text_encoder("minilm")
    text, mask = encoder(captions)
    torch.manual_seed(0)
    model = LatentDiT(DiTConfig(latent_dim=8, width=64, depth=2, heads=4, text_dim=384, max_seconds=5.0))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    start, total = torch.zeros(4), torch.full((4,), 24 / 21.533)
    for _ in range(600):
        drop = torch.rand(4) < 0.1
        loss = flow_matching_loss(
            lambda x, t, d=drop: model(x, t, text, mask, start, total, drop_text=d), clips
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()

    def velocity(x, t, drop):
        n = x.shape[0] // 4
        return model(
            x, t, text.repeat(n, 1, 1), mask.repeat(n, 1), start.repeat(n), total.repeat(n), drop_text=drop
        )

    out = sample(guided(velocity, 3.0), torch.randn(4, 8, 24, generator=g), steps=32)
    sims = torch.nn.functional.cosine_similarity(out.flatten(1)[:, None], clips.flatten(1)[None], dim=-1)
    assert sims.argmax(1).tolist() == [0, 1, 2, 3], sims


def test_loud_clips_are_scaled_below_full_scale_not_clipped():
    loud = torch.tensor([[0.5, -2.0, 1.0]])
    fitted, gain = fit_peak(loud)
    assert gain == pytest.approx(0.99 / 2.0) and float(fitted.abs().max()) == pytest.approx(0.99)
    quiet = torch.tensor([[0.1, -0.2]])
    same, unity = fit_peak(quiet)
    assert unity == 1.0 and torch.equal(same, quiet)

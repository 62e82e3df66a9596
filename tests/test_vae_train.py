"""VAE fine-tuning: the training module's losses, export, demos, resume and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from s2acc.cli import main
from s2acc.config import ConfigError, load_config
from s2acc.vae.data import CropDataset, clips_from_dataset
from s2acc.vae.discriminator import discriminator_loss
from s2acc.vae.oobleck import build_vae, load_vae
from s2acc.vae.train import LossSection, VAETrainConfig, VAETrainingModel, build_trainer, collate, vae_state

ROOT = Path(__file__).resolve().parents[1]


def run_config(dataset: Path, out: Path, *extra: str) -> VAETrainConfig:
    return load_config(
        VAETrainConfig,
        ROOT / "configs/vae/tiny.yaml",
        [
            f"out={out}",
            f"data.dataset={dataset}",
            "data.crop_seconds=0.25",
            "train.batch_size=2",
            "train.max_steps=3",
            "train.log_every=1",
            "train.warmup_steps=0",
            "demo.every=2",
            *extra,
        ],
    )


def test_the_shipped_configs_load():
    for path in sorted((ROOT / "configs/vae").glob("*.yaml")):
        cfg = load_config(VAETrainConfig, path)
        pretraining = path.stem.endswith("-pretrain")  # reconstruction only, what fine-tuning starts from
        assert (cfg.loss.distill > 0) != pretraining and cfg.data.crop_seconds > 0, path
    with pytest.raises(ConfigError, match="distill_mode"):
        load_config(VAETrainConfig, ROOT / "configs/vae/tiny.yaml", ["loss.distill_mode=sideways"])


@pytest.fixture
def two_clips(graded_dataset) -> dict[str, torch.Tensor]:
    """A training batch of two 0.5 s clips."""
    data = CropDataset(clips_from_dataset(graded_dataset, "train"), 0.5)
    return collate([data[0], data[1]])


def waveform_l1(vae, audio: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
    recon = vae.decode(latents).sample[..., : audio.shape[-1]]
    return (recon - audio).abs().mean()


def test_generator_terms_never_reach_the_discriminator(two_clips):
    batch = two_clips
    loss = LossSection(stft=0.0, kl=0.0, distill=0.0, adversarial=1.0, feature_matching=1.0)
    model = VAETrainingModel(build_vae("tiny"), loss)
    torch.manual_seed(0)
    total, logs = model(batch)
    total.backward()
    through_model = {n: p.grad.clone() for n, p in model.discriminator.named_parameters()}
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.vae.parameters())

    model.zero_grad()
    torch.manual_seed(0)  # the same posterior sample, so the same reconstruction
    posterior = model.vae.encode(batch["audio"]).latent_dist
    recon = model.vae.decode(posterior.sample()).sample[..., : batch["audio"].shape[-1]]
    critic = discriminator_loss(model.discriminator(batch["audio"]), model.discriminator(recon.detach()))
    critic.backward()
    assert float(critic) == pytest.approx(logs["discriminator"], rel=1e-5)
    for name, p in model.discriminator.named_parameters():
        torch.testing.assert_close(through_model[name], p.grad, rtol=1e-4, atol=1e-7, msg=name)


def test_the_waveform_term_is_the_l1_between_waveforms(two_clips):
    batch = two_clips
    loss = LossSection(stft=0.0, kl=0.0, waveform=2.0, distill=0.0, adversarial=0.0)
    model = VAETrainingModel(build_vae("tiny"), loss)
    torch.manual_seed(0)
    total, logs = model(batch)
    torch.manual_seed(0)  # the same posterior sample, so the same reconstruction
    sample = model.vae.encode(batch["audio"]).latent_dist.sample()
    expected = waveform_l1(model.vae, batch["audio"], sample)
    assert logs["waveform"] == pytest.approx(float(expected), rel=1e-5)
    assert float(total) == pytest.approx(2.0 * float(expected), rel=1e-5)
    total.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.vae.decoder.parameters())


def test_without_posterior_sampling_the_decoder_sees_the_posterior_mean(two_clips):
    batch = two_clips
    terms = {"stft": 0.0, "kl": 0.0, "waveform": 1.0, "distill": 0.0, "adversarial": 0.0}
    model = VAETrainingModel(build_vae("tiny"), LossSection(**terms, sample_posterior=False))
    torch.manual_seed(0)
    _, first = model(batch)
    torch.manual_seed(1)  # another seed would draw another sample; the mean does not depend on it
    _, second = model(batch)
    expected = waveform_l1(model.vae, batch["audio"], model.vae.encode(batch["audio"]).latent_dist.mean)
    assert first["waveform"] == second["waveform"] == pytest.approx(float(expected), rel=1e-6)
    sampling = VAETrainingModel(model.vae, LossSection(**terms))
    torch.manual_seed(1)
    _, sampled = sampling(batch)
    assert sampled["waveform"] != pytest.approx(first["waveform"], rel=1e-6)


@pytest.mark.slow
def test_a_run_exports_a_strictly_loadable_vae_and_writes_demos_and_metrics(graded_dataset, tmp_path):
    cfg = run_config(graded_dataset, tmp_path / "run", "loss.adversarial=0.1")
    trainer = build_trainer(cfg, progress_bar=False)
    trainer.train()
    folder = trainer.export()
    vae = load_vae(folder)  # strict: the export holds exactly the VAE
    exported = load_file(str(folder / "model.safetensors"))
    assert exported.keys() == vae.state_dict().keys()
    for key, value in vae_state(trainer.ema.shadow).items():
        assert torch.equal(exported[key], value), key
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert {"stft", "kl", "distill", "adversarial", "matching", "discriminator"} <= set(records[-1])
    demos = tmp_path / "run" / "demos" / "step-00000002"
    assert (demos / "spectrograms.png").stat().st_size > 1000
    assert len(list(demos.glob("*.reconstruction.wav"))) == 2
    assert list((tmp_path / "run").rglob("events.out.tfevents.*"))  # the TensorBoard tracker


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_weights(graded_dataset, tmp_path):
    extra = (
        "loss.adversarial=0.1",
        "loss.distill_mode=predict",
        "train.max_steps=4",
        "train.save_every=2",
        "demo.every=0",
        "train.tracker=none",
    )
    straight = build_trainer(run_config(graded_dataset, tmp_path / "a", *extra), progress_bar=False)
    straight.train()
    first = build_trainer(run_config(graded_dataset, tmp_path / "b", *extra), progress_bar=False)
    first.train(stop_at=3)
    (tmp_path / "b" / "checkpoints" / "step-00000003" / ".complete").unlink()  # killed mid-write
    resumed = build_trainer(run_config(graded_dataset, tmp_path / "b", *extra), progress_bar=False)
    assert resumed.latest_checkpoint().name == "step-00000002"
    resumed.train()
    a, b = straight.unwrapped.state_dict(), resumed.unwrapped.state_dict()
    assert any(k.startswith("head.") for k in a) and any(k.startswith("discriminator.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.slow
def test_the_train_vae_command_trains_and_exports(graded_dataset, tmp_path, capsys):
    out = tmp_path / "cli"
    args = [
        "train-vae",
        "--config",
        str(ROOT / "configs/vae/tiny.yaml"),
        "--quiet",
        f"out={out}",
        f"data.dataset={graded_dataset}",
        "data.crop_seconds=0.5",
        "train.batch_size=2",
        "train.max_steps=2",
        "demo.every=0",
        "train.tracker=none",
    ]
    assert main(args) == 0
    assert "exported the EMA VAE" in capsys.readouterr().out
    assert load_vae(out / "export").config.decoder_input_channels == 16
    assert (out / "config.yaml").exists()
    assert (
        main(["train-vae", "--config", str(ROOT / "configs/vae/tiny.yaml"), "data.dataset=/nonexistent"]) == 2
    )

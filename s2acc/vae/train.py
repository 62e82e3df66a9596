"""``s2acc train-vae``: fine-tune the Oobleck VAE so its latents carry lead-sheet structure.

One module holds everything trained together (the VAE, the distillation projector or head, the
discriminator) and computes the whole loss in ``forward``, so the shared trainer runs it like any
model, under DDP too. The adversarial game is played in one step: the generator terms see the
discriminator with its parameters frozen (their gradients reach only the VAE), and the discriminator's
hinge loss sees the reconstruction detached (its gradients reach only the discriminator); the sum is
minimised by one AdamW with a parameter group per side.

Export keeps the VAE alone, in diffusers layout, so ``load_vae`` reads it strictly.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from s2acc.audio import write_audio
from s2acc.config import save_config
from s2acc.rates import SAMPLE_RATE
from s2acc.train import TrainConfig, Trainer
from s2acc.vae.data import CropDataset, clips_from_dataset
from s2acc.vae.discriminator import MultiScaleSTFTDiscriminator, discriminator_loss, generator_losses
from s2acc.vae.distill import LeadSheetHead, LeadSheetProjector, alignment_loss, prediction_loss
from s2acc.vae.losses import FFT_SIZES, mrstft_loss
from s2acc.vae.oobleck import decode, encode, open_vae

VAE_PREFIX = "vae."


@dataclass
class ModelSection:
    # tiny | full (random init), a registry name (stable-audio-open-vae, diffrhythm-vae), or a folder
    # holding a diffusers AutoencoderOobleck (an earlier export).
    init: str = "tiny"
    seed: int = 0


@dataclass
class DataSection:
    dataset: str = "runs/demo/dataset"  # a finished `s2acc data run` folder
    crop_seconds: float = 3.0
    selected_only: bool = False  # True: only the top-graded segments


@dataclass
class LossSection:
    stft: float = 1.0
    # The STFT loss's window sizes (Stable Audio's by default). No window longer than the hop (2048)
    # means no bin narrower than a semitone below about 360 Hz: adding 4096 and 8192 lets the loss
    # tell neighbouring bass notes apart (benchmarks/README.md says what that did for the small VAE).
    fft_sizes: tuple[int, ...] = FFT_SIZES
    kl: float = 1e-4
    # L1 between the waveforms (EnCodec's time-domain term; 0 is Stable Audio's recipe). Magnitude
    # spectra cannot see a decoder that ignores phase across latent frames; a waveform loss can.
    waveform: float = 0.0
    # False decodes the posterior mean during training (a plain autoencoder). Sampling adds noise to
    # every latent frame; where the latents' motion over time is smaller than that noise, the decoder
    # cannot learn to use it.
    sample_posterior: bool = True
    adversarial: float = 0.1  # 0 turns the discriminator off
    feature_matching: float = 1.0
    discriminator_lr: float = 1e-4
    distill: float = 1.0  # lambda; 0 is plain fine-tuning (the ablation baseline)
    distill_mode: str = "align"  # align: features -> latent space, cosine; predict: latents -> classes
    # align: keep the projector at its (seeded) random initialisation. Trained jointly, it lets the
    # cosine be met by a rank-one signal that carries no chords (seen: alignment loss 0.002 with a chord
    # probe at the majority-class rate); frozen, it is a fixed embedding of the lead sheet whose full
    # direction the latents must follow, as Semantic-VAE aligns with frozen features.
    train_projector: bool = False

    def __post_init__(self) -> None:
        if not self.fft_sizes or any(n < 8 or n & (n - 1) for n in self.fft_sizes):
            raise ValueError(f"loss.fft_sizes must be powers of two of at least 8, got {self.fft_sizes!r}")
        if self.distill_mode not in ("align", "predict"):
            raise ValueError(f"loss.distill_mode must be align or predict, got {self.distill_mode!r}")


@dataclass
class DemoSection:
    every: int = 500  # steps between demo reconstructions (0: never)
    clips: int = 2  # held-out clips reconstructed each time


@dataclass
class VAETrainConfig:
    KIND = "vae"
    out: str = "runs/vae"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    loss: LossSection = field(default_factory=LossSection)
    train: TrainConfig = field(default_factory=TrainConfig)
    demo: DemoSection = field(default_factory=DemoSection)


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Parameters excluded from the graph for the ops run inside; restored after."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p in params:
            p.requires_grad_(True)


class VAETrainingModel(nn.Module):
    """The VAE with its training-only parts; ``forward(batch)`` returns (loss, logs)."""

    def __init__(self, vae: nn.Module, loss: LossSection):
        super().__init__()
        self.vae, self.cfg = vae, loss
        latent_dim = vae.config.decoder_input_channels
        self.projector = (
            LeadSheetProjector(latent_dim) if loss.distill and loss.distill_mode == "align" else None
        )
        self.head = LeadSheetHead(latent_dim) if loss.distill and loss.distill_mode == "predict" else None
        self.discriminator = MultiScaleSTFTDiscriminator() if loss.adversarial else None
        if self.projector is not None and not loss.train_projector:
            self.projector.requires_grad_(False)

    def param_groups(self) -> list[dict]:
        generator = [
            p
            for name, p in self.named_parameters()
            if p.requires_grad and not name.startswith("discriminator.")
        ]
        groups = [{"params": generator}]
        if self.discriminator is not None:
            groups.append({"params": list(self.discriminator.parameters()), "lr": self.cfg.discriminator_lr})
        return groups

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, audio = self.cfg, batch["audio"]
        posterior = self.vae.encode(audio).latent_dist
        latents = posterior.sample() if cfg.sample_posterior else posterior.mean
        recon = self.vae.decode(latents).sample[..., : audio.shape[-1]]
        rec = mrstft_loss(recon, audio, self.cfg.fft_sizes)
        kl = 0.5 * (posterior.mean.pow(2) + posterior.var - posterior.logvar - 1).mean()
        loss = cfg.stft * rec + cfg.kl * kl
        logs = {"stft": float(rec.detach()), "kl": float(kl.detach())}
        if cfg.waveform:
            waveform = F.l1_loss(recon, audio)
            loss = loss + cfg.waveform * waveform
            logs["waveform"] = float(waveform.detach())
        if cfg.distill and "features" in batch:
            if self.projector is not None:
                projected = self.projector(batch["features"], posterior.mean.shape[-1])
                distill = alignment_loss(posterior.mean, projected, batch.get("mask"))
            else:
                distill = prediction_loss(self.head(posterior.mean), batch)
            loss = loss + cfg.distill * distill
            logs["distill"] = float(distill.detach())
        if self.discriminator is not None:
            real = self.discriminator(audio)
            with frozen(self.discriminator) as d:
                fake_for_generator = d(recon)
            adversarial, matching = generator_losses(real, fake_for_generator)
            critic = discriminator_loss(real, self.discriminator(recon.detach()))
            loss = loss + cfg.adversarial * adversarial + cfg.feature_matching * matching + critic
            logs.update(adversarial=float(adversarial.detach()), matching=float(matching.detach()))
            logs["discriminator"] = float(critic.detach())
        return loss, logs


def vae_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The VAE's own weights (diffusers keys) out of the training module's state."""
    return {k[len(VAE_PREFIX) :]: v for k, v in state.items() if k.startswith(VAE_PREFIX)}


def collate(items: list[dict]) -> dict[str, torch.Tensor]:
    keys = set.intersection(*(set(item) for item in items))  # clips without a lead sheet lack targets
    return {k: torch.stack([item[k] for item in items]) for k in sorted(keys)}


class DemoReconstructions:
    """Every ``every`` steps, on the main process: reconstruct fixed held-out clips with the EMA VAE
    and write ``demos/step-N/{clip}.wav`` (original and reconstruction) plus a spectrogram PNG."""

    def __init__(self, dataset: CropDataset, every: int, clips: int, out: Path):
        self.items = [dataset[i] for i in range(min(clips, len(dataset)))] if every else []
        self.ids = [dataset.clips[i].clip_id for i in range(len(self.items))]
        self.every, self.out = every, out

    def __call__(self, trainer: Trainer) -> None:
        step = trainer.progress.step
        if not self.items or step % self.every or not trainer.accelerator.is_main_process:
            return
        live = trainer.unwrapped.vae
        vae = type(live).from_config(live.config).eval()  # (weight-normed modules cannot be deep-copied)
        vae.load_state_dict(vae_state(trainer.ema.shadow))  # the weights an export would hold
        folder = self.out / "demos" / f"step-{step:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        pairs = []
        for clip_id, item in zip(self.ids, self.items, strict=True):
            audio = item["audio"][None]
            recon = decode(vae, encode(vae, audio))[0, :, : audio.shape[-1]]
            name = clip_id.replace("/", "_")
            write_audio(folder / f"{name}.original.wav", audio[0].numpy(), SAMPLE_RATE)
            write_audio(folder / f"{name}.reconstruction.wav", recon.numpy(), SAMPLE_RATE)
            pairs.append((name, audio[0].mean(0).numpy(), recon.mean(0).numpy()))
        spectrogram_png(pairs, folder / "spectrograms.png")


def spectrogram_png(pairs: list, path: Path) -> None:
    """Original and reconstruction log-mel spectrograms side by side, one row per clip."""
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(pairs), 2, figsize=(10, 2.6 * len(pairs)), squeeze=False)
    for row, (name, original, recon) in enumerate(pairs):
        for col, (title, signal) in enumerate((("original", original), ("reconstruction", recon))):
            mel = librosa.feature.melspectrogram(
                y=signal, sr=SAMPLE_RATE, n_fft=2048, hop_length=512, n_mels=96
            )
            axes[row, col].imshow(
                librosa.power_to_db(mel + 1e-10, ref=1.0, top_db=80), origin="lower", aspect="auto"
            )
            axes[row, col].set_title(f"{name}: {title}", fontsize=8)
            axes[row, col].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def build_trainer(cfg: VAETrainConfig, progress_bar: bool = True) -> Trainer:
    out = Path(cfg.out)
    vae = open_vae(cfg.model.init, cfg.model.seed)
    torch.manual_seed(cfg.model.seed)  # the projector/head and discriminator start the same every run
    model = VAETrainingModel(vae, cfg.loss)
    train_set = CropDataset(
        clips_from_dataset(cfg.data.dataset, "train", cfg.data.selected_only),
        cfg.data.crop_seconds,
        cfg.train.seed,
        hop=vae.hop_length,
    )
    demos = []
    if cfg.demo.every:
        held_out = clips_from_dataset(cfg.data.dataset, "val") or train_set.clips
        demos.append(
            DemoReconstructions(
                CropDataset(held_out, cfg.data.crop_seconds, random=False, hop=vae.hop_length),
                cfg.demo.every,
                cfg.demo.clips,
                out,
            )
        )
    config = {  # diffusers' layout, plus how the latents were distilled
        "_class_name": "AutoencoderOobleck",
        **{k: v for k, v in vae.config.items() if not k.startswith("_")},
        "distillation": asdict(cfg.loss),
    }
    return Trainer(
        cfg.train,
        model,
        lambda m, batch: m(batch),
        train_set,
        out,
        collate_fn=collate,
        export_config=config,
        progress_bar=progress_bar,
        export_state=vae_state,
        callbacks=demos,
    )


def train_vae(cfg: VAETrainConfig, progress_bar: bool = True, stop_at: int | None = None) -> Path:
    """Train (resuming when ``cfg.out`` holds a checkpoint) and export; returns the export folder."""
    trainer = build_trainer(cfg, progress_bar)
    if trainer.accelerator.is_main_process:
        save_config(cfg, cfg.out)
    trainer.train(stop_at=stop_at)
    return trainer.export()

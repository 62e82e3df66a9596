"""``s2acc train-dit``: flow-matching training of the latent DiT, in two stages.

``stage: pretrain`` trains from scratch on every encoded segment; ``stage: sft`` starts from a pretrain
export (``init``) and continues on the selected top-graded segments. Both run on the shared trainer
(DDP under ``accelerate launch``, FSDP through ``configs/accelerate/``), with the frozen text encoder
outside the trained module: captions are encoded on the fly, on the process's device.

Export: the EMA weights of the DiT alone (``model.safetensors``) and a ``config.json`` holding all a
generator needs: the model shape, the text encoder, the VAE and the latent statistics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from s2acc.config import save_config
from s2acc.dit.data import LatentDataset, collate
from s2acc.dit.export import load_dit
from s2acc.dit.flow import flow_matching_loss, logit_normal
from s2acc.dit.generate import DemoGenerations, SamplingSection
from s2acc.dit.model import DiTConfig, LatentDiT
from s2acc.dit.text import TEXT_DIMS, TextEncoder, make_text_encoder
from s2acc.rates import LATENT_RATE
from s2acc.train import TrainConfig, Trainer


@dataclass
class DataSection:
    dataset: str = "runs/demo/dataset"  # a dataset folder after its encode stage
    max_seconds: float = 30.0  # longer segments are cropped (at a per-epoch seeded position)


@dataclass
class FlowSection:
    cfg_dropout: float = 0.1  # share of examples trained with the null text
    t_mean: float = 0.0  # logit-normal timestep sampling
    t_std: float = 1.0


@dataclass
class StageSection:
    stage: str = "pretrain"  # pretrain (every segment) | sft (the selected segments)
    init: str = ""  # an export folder to start from: sft's pretrain export, or a pretraining to continue

    def __post_init__(self) -> None:
        if self.stage not in ("pretrain", "sft"):
            raise ValueError(f"stage must be pretrain or sft, got {self.stage!r}")
        if self.stage == "sft" and not self.init:
            raise ValueError("stage sft needs `init`: the pretrain export folder to start from")


@dataclass
class DemoSection:
    every: int = 0  # steps between demo generations (0: never)
    prompts: list[str] = field(default_factory=lambda: ["upbeat electronic track with synth bass and drums"])


@dataclass
class DiTTrainConfig:
    KIND = "dit"
    out: str = "runs/dit"
    text_encoder: str = "minilm"  # minilm | clap | flan-t5 | muq-mulan
    vae: str = "tiny"  # the VAE that encoded the latents (for demos and generation)
    compile: bool = False  # torch.compile the DiT
    model: DiTConfig = field(default_factory=DiTConfig)
    data: DataSection = field(default_factory=DataSection)
    flow: FlowSection = field(default_factory=FlowSection)
    stage: StageSection = field(default_factory=StageSection)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampling: SamplingSection = field(default_factory=SamplingSection)
    demo: DemoSection = field(default_factory=DemoSection)

    def __post_init__(self) -> None:
        expected = TEXT_DIMS.get(self.text_encoder)
        if expected is None:
            raise ValueError(f"text_encoder must be one of {', '.join(TEXT_DIMS)}, got {self.text_encoder!r}")
        if self.model.text_dim != expected:
            raise ValueError(
                f"model.text_dim is {self.model.text_dim} but {self.text_encoder} gives {expected}"
            )


def example_draws(seeds: torch.Tensor, lengths: torch.Tensor, shape: tuple[int, int], flow: FlowSection):
    """Noise (batch, dim, frames), timestep (batch,) and text dropout (batch,) from per-example seeds;
    the noise covers each example's own frames (zero on padding), so padding never shifts it."""
    noise = torch.zeros(len(seeds), *shape)
    t, drop = [], []
    for i, (seed, n) in enumerate(zip(seeds.tolist(), lengths.tolist(), strict=True)):
        g = torch.Generator().manual_seed(seed)
        t.append(logit_normal(1, flow.t_mean, flow.t_std, generator=g))
        drop.append(torch.rand(1, generator=g) < flow.cfg_dropout)
        noise[i, :, :n] = torch.randn(shape[0], n, generator=g)
    return noise, torch.cat(t), torch.cat(drop)


def make_loss(encoder, cfg: DiTTrainConfig):
    def loss_fn(model, batch) -> tuple[torch.Tensor, dict]:
        latents = batch["latents"]
        device = latents.device
        text, text_mask = encoder(batch["captions"])
        lengths = batch["frame_mask"].sum(1).cpu()
        noise, t, drop = example_draws(batch["noise_seed"].cpu(), lengths, tuple(latents.shape[1:]), cfg.flow)
        noise, t, drop = noise.to(device, latents.dtype), t.to(device), drop.to(device)

        def velocity(x, tt):
            return model(
                x,
                tt,
                text,
                text_mask,
                batch["seconds_start"],
                batch["seconds_total"],
                batch["frame_mask"],
                drop,
            )

        loss = flow_matching_loss(velocity, latents, batch["frame_mask"], t, noise)
        return loss, {}

    return loss_fn


def build_trainer(
    cfg: DiTTrainConfig,
    progress_bar: bool = True,
    callbacks=None,
    text_encoder: TextEncoder | None = None,
) -> Trainer:
    """The shared trainer set up for this config; the text encoder is built unless one is given."""
    torch.manual_seed(cfg.train.seed)
    model = LatentDiT(cfg.model)
    if cfg.stage.init:
        initial, meta = load_dit(cfg.stage.init)
        if meta["dit"] != asdict(cfg.model):
            raise ValueError(f"{cfg.stage.init}: its model shape differs from this config's `model` section")
        model.load_state_dict(initial.state_dict())
    if cfg.compile:
        model.compile()
    dataset = LatentDataset(
        cfg.data.dataset,
        split="train",
        selected_only=cfg.stage.stage == "sft",
        max_frames=max(1, round(cfg.data.max_seconds * LATENT_RATE)),
        seed=cfg.train.seed,
    )
    encoder = text_encoder or make_text_encoder(cfg.text_encoder, _device())
    export = {  # the release format: s2acc/dit/export.py
        "dit": asdict(cfg.model),
        "text_encoder": cfg.text_encoder,
        "vae": cfg.vae,
        "latent_stats": dataset.stats.to_dict(),
        "sampling": asdict(cfg.sampling),
        "stage": cfg.stage.stage,
    }
    return Trainer(
        cfg.train,
        model,
        make_loss(encoder, cfg),
        dataset,
        cfg.out,
        collate_fn=collate,
        export_config=export,
        progress_bar=progress_bar,
        callbacks=callbacks,
    )


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def train_dit(cfg: DiTTrainConfig, progress_bar: bool = True, stop_at: int | None = None) -> Path:
    """Train (resuming when ``cfg.out`` holds a checkpoint) and export; returns the export folder."""
    encoder = make_text_encoder(cfg.text_encoder, _device())
    callbacks = [DemoGenerations(cfg, encoder)] if cfg.demo.every else []
    trainer = build_trainer(cfg, progress_bar, callbacks, encoder)
    if trainer.accelerator.is_main_process:
        save_config(cfg, cfg.out)
    trainer.train(stop_at=stop_at)
    return trainer.export()

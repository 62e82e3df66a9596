"""``s2acc generate``: prompts to 44.1 kHz WAV files through the DiT, an ODE sampler and the VAE.

Each prompt gets its own seed, derived from the run's seed and the prompt's id, so a clip does not
depend on which batch it fell in, and a rerun skips the WAVs already written. The clip is generated
for at least the requested seconds (whole latent frames, so a few ms more) and written in full; a
clip that peaks above full scale is scaled down (``fit_peak``) and its gain recorded.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from s2acc.audio import write_audio
from s2acc.config import ConfigError
from s2acc.dit.data import LatentStats
from s2acc.dit.export import export_folder, load_dit
from s2acc.dit.flow import guided, sample
from s2acc.dit.model import LatentDiT
from s2acc.dit.text import make_text_encoder
from s2acc.hub import file_sha256
from s2acc.rates import LATENT_RATE, SAMPLE_RATE
from s2acc.vae import decode, open_vae

PEAK = 0.99  # -0.09 dBFS
PRECISIONS = ("fp32", "bf16")


@dataclass
class SamplingSection:
    """How clips are sampled: the part of a DiT, eval or entry config that generation reads."""

    steps: int = 32
    cfg_scale: float = 4.0
    method: str = "euler"  # euler | heun
    seconds: float = 10.0
    batch_size: int = 16  # prompts per batch (per-prompt seeds: the clips do not depend on it)
    # fp32 | bf16: the DiT and the decoder under bf16 autocast (on GPUs, several times faster; the clips
    # differ from fp32's by bf16 rounding)
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"sampling.precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )

    def solver(self) -> dict:
        return {
            "steps": self.steps,
            "cfg_scale": self.cfg_scale,
            "method": self.method,
            "precision": self.precision,
        }


def fit_peak(clip: torch.Tensor) -> tuple[torch.Tensor, float]:
    """A clip whose peak exceeds full scale is scaled down to ``PEAK`` (hard clipping would distort it
    and fail submission validation); others are untouched. Returns the clip and the gain applied."""
    peak = float(clip.abs().max())
    gain = PEAK / peak if peak > PEAK else 1.0
    return clip * gain, gain


def prompt_seed(seed: int, prompt_id: str) -> int:
    return int(hashlib.sha256(f"{seed}:{prompt_id}".encode()).hexdigest()[:15], 16)


class Generator:
    """A DiT with its text encoder, VAE and latent statistics, ready to sample."""

    def __init__(self, model, meta: dict, text_encoder=None, vae=None, device: str = "cpu"):
        self.model, self.meta, self.device = model.to(device).eval(), meta, device
        self.text = text_encoder or make_text_encoder(meta["text_encoder"], device)
        self.vae = (vae or open_vae(meta["vae"])).to(device).eval()
        self.stats = LatentStats(**meta["latent_stats"])

    @classmethod
    def from_export(cls, folder: str | Path, vae: str | None = None, device: str = "cpu") -> Generator:
        model, meta = load_dit(folder)
        return cls(model, meta, vae=open_vae(vae) if vae else None, device=device)

    @torch.no_grad()
    def latents(
        self,
        prompts: list[str],
        seconds: float,
        seeds: list[int],
        steps: int = 32,
        cfg_scale: float = 4.0,
        method: str = "euler",
    ) -> torch.Tensor:
        frames = max(1, math.ceil(seconds * LATENT_RATE))
        b = len(prompts)
        noise = torch.stack(
            [
                torch.randn(self.model.cfg.latent_dim, frames, generator=torch.Generator().manual_seed(s))
                for s in seeds
            ]
        ).to(self.device)
        text, mask = self.text(list(prompts))
        start = torch.zeros(b, device=self.device)
        total = torch.full((b,), frames / LATENT_RATE, device=self.device)

        def velocity(x, t, drop):
            n = x.shape[0] // b  # 2 when guidance doubles the batch
            return self.model(
                x,
                t,
                text.repeat(n, 1, 1),
                mask.repeat(n, 1),
                start.repeat(n),
                total.repeat(n),
                drop_text=drop,
            )

        z = sample(guided(velocity, cfg_scale), noise, steps, method)
        return self.stats.denormalise(z)

    @torch.no_grad()
    def audio(
        self, prompts: list[str], seconds: float, seeds: list[int], precision: str = "fp32", **sampling
    ) -> torch.Tensor:
        """(batch, 2, samples) at 44.1 kHz, samples >= seconds * 44100; ``precision`` as in
        :class:`SamplingSection` (the noise and the solver's state stay fp32 either way)."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        device = torch.device(self.device).type
        with torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16"):
            return decode(self.vae, self.latents(prompts, seconds, seeds, **sampling)).float().cpu()


def read_prompts(path: str | Path) -> pd.DataFrame:
    """A prompts CSV with ``id`` and ``prompt`` columns (others are kept); refuses what it cannot use."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"id": str, "prompt": str}, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable CSV ({err})") from err
    missing = [c for c in ("id", "prompt") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; a prompts CSV needs id,prompt")
    bad = table["id"].str.strip() == ""
    if bad.any():
        raise ValueError(f"{path}: row(s) {list(np.flatnonzero(bad) + 2)} have an empty id")
    dup = table["id"][table["id"].duplicated()].tolist()
    if dup:
        raise ValueError(f"{path}: duplicate id(s) {dup[:5]}")
    unsafe = [i for i in table["id"] if "/" in i or "\\" in i or i in (".", "..")]
    if unsafe:
        raise ValueError(f"{path}: id(s) {unsafe[:5]} cannot be file names")
    return table


def generate_csv(
    generator: Generator,
    prompts: pd.DataFrame,
    out: str | Path,
    seconds: float = 10.0,
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = True,
    **sampling,
) -> pd.DataFrame:
    """Write ``{id}.wav`` for every prompt (skipping those already there) and ``generations.csv``."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = prompts.copy()
    table["seed"] = [prompt_seed(seed, i) for i in table["id"]]
    todo = table[[not (out / f"{i}.wav").exists() for i in table["id"]]]
    gains: dict[str, float] = {}
    for lo in tqdm(range(0, len(todo), batch_size), desc="generate", unit="batch", disable=not progress):
        chunk = todo.iloc[lo : lo + batch_size]
        audio = generator.audio(chunk["prompt"].tolist(), seconds, chunk["seed"].tolist(), **sampling)
        for prompt_id, clip in zip(chunk["id"], audio, strict=True):
            clip, gains[prompt_id] = fit_peak(clip)
            tmp = out / f".{prompt_id}.tmp.wav"
            write_audio(tmp, clip.numpy(), SAMPLE_RATE)
            tmp.replace(out / f"{prompt_id}.wav")
    table["file"] = [f"{i}.wav" for i in table["id"]]
    previous = out / "generations.csv"
    if previous.exists():  # gains of clips written by an earlier run
        old = pd.read_csv(previous, dtype={"id": str})
        if "gain" in old:
            gains = {**dict(zip(old["id"], old["gain"], strict=True)), **gains}
    table["gain"] = [gains.get(i, float("nan")) for i in table["id"]]
    for key, value in {"seconds": seconds, **sampling}.items():
        table[key] = value
    table.to_csv(out / "generations.csv", index=False)
    return table


class DemoGenerations:
    """Every ``demo.every`` steps, on the main process: the config's demo prompts with the EMA weights,
    written to ``demos/step-N/{k}.wav``, encoded by the training run's own text encoder."""

    def __init__(self, cfg, text_encoder):
        self.cfg, self.text_encoder = cfg, text_encoder
        self.generator = None

    def __call__(self, trainer) -> None:
        step = trainer.progress.step
        if step % self.cfg.demo.every or not trainer.accelerator.is_main_process:
            return
        model = LatentDiT(self.cfg.model)
        model.load_state_dict(trainer.ema.shadow)
        meta = trainer.export_config
        if self.generator is None:
            self.generator = Generator(
                model, meta, text_encoder=self.text_encoder, device=str(trainer.accelerator.device)
            )
        else:
            self.generator.model = model.to(self.generator.device).eval()
        s = self.cfg.sampling
        seeds = [prompt_seed(0, str(k)) for k in range(len(self.cfg.demo.prompts))]
        audio = self.generator.audio(self.cfg.demo.prompts, s.seconds, seeds, **s.solver())
        folder = Path(self.cfg.out) / "demos" / f"step-{step:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        for k, clip in enumerate(audio):
            write_audio(folder / f"{k}.wav", fit_peak(clip)[0].numpy(), SAMPLE_RATE)


def cached_generation(
    checkpoint: str | Path,
    prompts: pd.DataFrame,
    root: str | Path,
    sampling: SamplingSection,
    seed: int = 0,
    vae: str = "",
    seconds: float | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """``root/clips-<key>`` holding ``{id}.wav`` for every prompt, generated only where missing. The key
    hashes the checkpoint's weights, the VAE, the seed, the length and the solver settings, so other
    weights or settings never reuse clips."""
    weights = export_folder(checkpoint) / "model.safetensors"
    if not weights.exists():
        raise ConfigError(f"checkpoint {checkpoint or '(empty)'}: no model.safetensors (a DiT export folder)")
    seconds = sampling.seconds if seconds is None else seconds
    settings = {**sampling.solver(), "seconds": seconds, "seed": seed, "vae": vae}
    key = hashlib.sha256(f"{file_sha256(weights)}|{sorted(settings.items())}".encode()).hexdigest()[:12]
    folder = Path(root) / f"clips-{key}"
    if not all((folder / f"{i}.wav").exists() for i in prompts["id"]):
        generator = Generator.from_export(checkpoint, vae=vae or None, device=device)
        generate_csv(
            generator, prompts, folder, seconds=seconds, batch_size=sampling.batch_size, seed=seed,
            progress=progress, **sampling.solver(),
        )  # fmt: skip
    return folder

"""Oobleck VAE on diffusers' ``AutoencoderOobleck``, with seamless chunked encode and decode.

The full configuration is Stable Audio Open 1.0's VAE: 44.1 kHz stereo in, 64-dim latents at
2048x downsampling (21.53 Hz), about 156M parameters. The smaller ones keep the rate and the hop, so
lead-sheet frames and the DiT's sequence lengths are those of the full recipe:

- ``small`` (5.0M), pretrained by s2acc on CPU and shipped as ``small-vae``: 32-dim latents (half the
  full VAE's channels, twice the tiny's) for reconstruction, while the full-rate layers, which dominate
  a CPU step, stay narrow (64 channels in the encoder, 32 in the decoder) and depth goes to the cheap
  low-rate blocks. A 16-dim variant steps faster but reconstructed held-out audio worse at equal steps
  and at equal time (``benchmarks/README.md``);
- ``tiny`` (0.23M): 16-dim latents and narrow layers, for tests.

Chunking: both halves are convolutional with a finite receptive field (measured on these
architectures: an input sample moves encoder outputs within 7 frames of it; a latent frame moves
decoder outputs within 9 frames). A chunk is therefore coded with ``overlap`` extra frames on each
side and only its centre is kept; with the overlap at least the receptive field, chunked output
equals whole-clip output up to floating-point rounding, and memory stays bounded for any length.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from s2acc.rates import HOP, LATENT_RATE, SAMPLE_RATE
from s2acc.vae.convert import read_checkpoint, sat_to_diffusers

__all__ = [
    "DEFAULT_CHUNK_FRAMES",
    "DEFAULT_OVERLAP_FRAMES",
    "FULL_CONFIG",
    "HOP",
    "LATENT_RATE",
    "SAMPLE_RATE",
    "SMALL_CONFIG",
    "TINY_CONFIG",
    "build_vae",
    "decode",
    "encode",
    "load_diffrhythm_vae",
    "load_vae",
    "open_vae",
]
DEFAULT_CHUNK_FRAMES = 256  # about 12 s per chunk
DEFAULT_OVERLAP_FRAMES = 16  # > the receptive field of either half, in latent frames

FULL_CONFIG: dict[str, Any] = {
    "encoder_hidden_size": 128,
    "downsampling_ratios": [2, 4, 4, 8, 8],
    "channel_multiples": [1, 2, 4, 8, 16],
    "decoder_channels": 128,
    "decoder_input_channels": 64,
    "audio_channels": 2,
    "sampling_rate": SAMPLE_RATE,
}
TINY_CONFIG: dict[str, Any] = {
    **FULL_CONFIG,
    "encoder_hidden_size": 32,
    "channel_multiples": [1, 1, 1, 1, 1],
    "decoder_channels": 16,
    "decoder_input_channels": 16,
}


SMALL_CONFIG: dict[str, Any] = {
    **FULL_CONFIG,
    "encoder_hidden_size": 64,
    "channel_multiples": [1, 1, 2, 4, 4],
    "decoder_channels": 32,
    "decoder_input_channels": 32,
}
CONFIGS = {"full": FULL_CONFIG, "small": SMALL_CONFIG, "tiny": TINY_CONFIG}

_INIT_KEYS = set(FULL_CONFIG)


def build_vae(config: dict[str, Any] | str = "tiny", seed: int | None = 0):
    """A randomly initialised ``AutoencoderOobleck`` from a name in ``CONFIGS`` or a config dict."""
    from diffusers import AutoencoderOobleck

    cfg = CONFIGS.get(config, config) if isinstance(config, str) else config
    if not isinstance(cfg, dict):
        raise ValueError(f"unknown VAE config {config!r}; use one of {', '.join(CONFIGS)} or a dict")
    if cfg["encoder_hidden_size"] != 2 * cfg["decoder_input_channels"]:
        raise ValueError("encoder_hidden_size must be twice decoder_input_channels (mean and scale)")
    if seed is not None:
        torch.manual_seed(seed)
    return AutoencoderOobleck(**cfg).eval()


def load_vae(folder: str | Path):
    """A VAE from a diffusers-format folder (``config.json`` + weights), loaded strictly.

    ``folder`` may be the registry's Stable Audio Open snapshot (its ``vae/`` subfolder is used).
    """
    from diffusers import AutoencoderOobleck

    folder = Path(folder)
    if (folder / "vae" / "config.json").exists():
        folder = folder / "vae"
    if not (folder / "config.json").exists():
        raise FileNotFoundError(
            f"{folder}: no config.json (a diffusers AutoencoderOobleck folder is expected)"
        )
    config = json.loads((folder / "config.json").read_text())
    if config.get("_class_name", "AutoencoderOobleck") != "AutoencoderOobleck":
        raise ValueError(f"{folder}: holds a {config['_class_name']}, not an AutoencoderOobleck")
    if (folder / "model.safetensors").exists() and not (
        folder / "diffusion_pytorch_model.safetensors"
    ).exists():
        # an export of the shared trainer (model.safetensors + config.json)
        from safetensors.torch import load_file

        vae = AutoencoderOobleck.from_config({k: v for k, v in config.items() if k in _INIT_KEYS})
        try:
            vae.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
        except RuntimeError as err:
            raise ValueError(f"{folder}: weights do not match the config: {err}") from None
        return vae.eval()
    # diffusers only warns about missing, unexpected or mismatched keys (a missing weight stays random):
    # ask for the loading report and refuse any of them.
    vae, info = AutoencoderOobleck.from_pretrained(folder, low_cpu_mem_usage=False, output_loading_info=True)
    problems = {
        k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")
    }
    if problems:
        raise ValueError(f"{folder}: weights do not match the config: {problems}")
    return vae.eval()


def open_vae(spec: str, seed: int = 0):
    """A VAE by name: ``tiny``, ``small`` or ``full`` (random init from ``seed``), a folder holding a
    diffusers ``AutoencoderOobleck`` (an export of ``s2acc train-vae``), or a weights-registry name
    (``small-vae``, ``stable-audio-open-vae``, ``diffrhythm-vae``)."""
    if spec in CONFIGS:
        return build_vae(spec, seed=seed)
    if Path(spec).is_dir():
        return load_vae(spec)
    from s2acc.hub import resolve

    path = resolve(spec)
    if spec == "diffrhythm-vae":
        return load_diffrhythm_vae(path)
    return load_vae(path)


def load_diffrhythm_vae(path: str | Path, config: dict | str = "full"):
    """A stable-audio-tools Oobleck checkpoint (DiffRhythm's ``vae_model.pt``) as a diffusers VAE,
    converted and loaded strictly."""
    vae = build_vae(config, seed=None)
    vae.load_state_dict(sat_to_diffusers(read_checkpoint(path)), strict=True)
    return vae.eval()


def _chunks(total: int, chunk: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(lo, hi, keep_from, keep_to) in frames: code [lo, hi), keep [keep_from, keep_to) of the whole."""
    out = []
    for start in range(0, total, chunk):
        end = min(start + chunk, total)
        out.append((max(0, start - overlap), min(total, end + overlap), start, end))
    return out


def _check(chunk_frames: int, overlap_frames: int) -> None:
    if chunk_frames < 1 or overlap_frames < 0:
        raise ValueError(
            f"need chunk_frames >= 1 and overlap_frames >= 0, got {chunk_frames}, {overlap_frames}"
        )


@torch.no_grad()
def encode(
    vae,
    audio: torch.Tensor,
    chunk_frames: int | None = DEFAULT_CHUNK_FRAMES,
    overlap_frames: int = DEFAULT_OVERLAP_FRAMES,
    sample: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Latents (batch, dim, frames) of audio (batch, channels, samples); the mean unless ``sample``.

    The audio is zero-padded to a whole number of frames (``ceil(samples / vae.hop_length)``).
    ``chunk_frames`` None codes the clip in one pass.
    """
    if audio.ndim != 3:
        raise ValueError(f"expected (batch, channels, samples) audio, got shape {tuple(audio.shape)}")
    hop = vae.hop_length
    frames = -(-audio.shape[-1] // hop)
    audio = torch.nn.functional.pad(audio, (0, frames * hop - audio.shape[-1]))

    def code(x: torch.Tensor) -> torch.Tensor:
        dist = vae.encode(x).latent_dist
        return dist.sample(generator) if sample else dist.mean

    if chunk_frames is None or frames <= chunk_frames:
        return code(audio)
    _check(chunk_frames, overlap_frames)
    parts = []
    for lo, hi, keep_from, keep_to in _chunks(frames, chunk_frames, overlap_frames):
        z = code(audio[..., lo * hop : hi * hop])
        parts.append(z[..., keep_from - lo : keep_to - lo])
    return torch.cat(parts, dim=-1)


@torch.no_grad()
def decode(
    vae,
    latents: torch.Tensor,
    chunk_frames: int | None = DEFAULT_CHUNK_FRAMES,
    overlap_frames: int = DEFAULT_OVERLAP_FRAMES,
) -> torch.Tensor:
    """Audio (batch, channels, frames * vae.hop_length) from latents (batch, dim, frames)."""
    if latents.ndim != 3:
        raise ValueError(f"expected (batch, dim, frames) latents, got shape {tuple(latents.shape)}")
    frames = latents.shape[-1]
    if chunk_frames is None or frames <= chunk_frames:
        return vae.decode(latents).sample
    _check(chunk_frames, overlap_frames)
    parts = []
    for lo, hi, keep_from, keep_to in _chunks(frames, chunk_frames, overlap_frames):
        y = vae.decode(latents[..., lo:hi]).sample
        parts.append(y[..., (keep_from - lo) * vae.hop_length : (keep_to - lo) * vae.hop_length])
    return torch.cat(parts, dim=-1)

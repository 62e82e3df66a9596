"""Everything s2acc claims for GPUs, measured in one run of at most 8 minutes on one GPU.

Random weights throughout (speed does not depend on their values); every timing has the device
synchronised around the clock and comes after warm-up calls; each part records the peak GPU memory it
allocated (``torch.cuda.max_memory_allocated``), and a part that fails records its error while the
others still run. Parts, in the order they run:

- ``peak``: this card's bf16 and fp32 matmul peaks (best of five rounds of 8192^2 products), measured
  in this run: the denominators of the MFU and of the floors below.
- ``dit_train``: the 402M DiT (``configs/dit/s2acc_402m.yaml``) trained as the trainer runs it on a GPU
  (bf16 autocast, flow-matching loss, gradient clipping, fused AdamW, EMA), at the config's batch of
  16 and at 10 s and 30 s of latents (the segment stage's bounds), against diffusers'
  ``StableAudioDiTModel`` of equal size (as ``benchmarks/dit.py`` builds and conditions it), in ABBA
  rounds. Reports latent frames per second, MFU (matmul FLOPs counted from the shapes over the bf16
  peak) and the time ratio ours / peer. Targets: MFU >= 0.40, ratio < 1.
- ``vae``: the full Oobleck VAE (Stable Audio Open's shape, 156M) through ``s2acc.vae.encode`` /
  ``decode`` on one 10 s clip, as the encode stage runs it (fp32): real-time factors.
- ``separate``: htdemucs (the released model's architecture) through the separate stage's
  ``DemucsSeparator`` with ``configs/data/attm.yaml``'s settings, on 60 s of stereo: real-time factor.
- ``clap``: LAION-CLAP (HTSAT-base) window embeddings through eval's ``ClapEmbedder`` (fadtk's
  preprocessing on the CPU, batches of 16 windows on the GPU), and the model calls alone: windows/s.
- ``generate``: 100 prompts x 10 s through ``s2acc.dit.generate`` (``Generator`` and ``generate_csv``:
  the CLAP text tower, 32 Euler steps with CFG, the full VAE decode, WAVs written), batch 16; as
  ``s2acc generate`` runs it by default (fp32), then with ``--precision bf16``. Target: <= 15 s on
  one H100. The floor is the DiT's and the decoder's FLOPs, counted from the shapes, over each measured peak.

Results go to ``benchmarks/results/gpu-<device>.json`` (e.g. ``gpu-nvidia-h100-80gb-hbm3.json``), written
again after every part; ``--dry`` runs every part on the CPU at tiny sizes (tiny DiT and VAE, 2
prompts, 2 steps, a fraction of a second of audio) in well under a minute and writes
``runs/bench/gpu-dry.json`` unless ``--out`` says otherwise.

    python benchmarks/gpu.py [--parts peak,dit_train,...] [--budget 450] [--set key=value ...] [--out PATH]
    python benchmarks/gpu.py --dry [--out PATH]

A GPU node without network access may have torch, transformers, accelerate, numpy 2 and scipy but no
diffusers, demucs, laion-clap, librosa or soundfile, and get the tree without git.
``make bench-gpu-wheels`` downloads those wheels here into ``runs/wheels`` (with ``commit.json``, the
commit they travel with); when the modules are missing, this script installs the wheels into a temporary
folder (``pip --no-index``) and imports them from there. Copy the tree with ``runs/wheels`` to the
machine, run there (it needs about 9 minutes at most)

    PYTHONUNBUFFERED=1 python3 benchmarks/gpu.py

and bring ``benchmarks/results/gpu-*.json`` back.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import importlib.util
import json
import math
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

START = time.monotonic()
ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # run as a script, benchmarks/data_pipeline.py would shadow the package

for _key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(_key, "1")  # no hub anywhere: transformers would otherwise retry for minutes

from benchmarks._meta import metadata  # noqa: E402

# Imported by the parts; a GPU machine lacks them and gets them from the carried wheels.
CARRIED = ("diffusers", "demucs", "julius", "laion_clap", "torchlibrosa", "librosa", "soundfile", "soxr")
PART_NAMES = ("peak", "dit_train", "vae", "separate", "clap", "generate")
SOURCES = ["drums", "bass", "other", "vocals"]
SR = 44100
TARGETS = {"dit_mfu": ">= 0.40", "dit_ratio_ours_over_peer": "< 1", "generate_seconds": "<= 15"}


@dataclass
class Sizes:
    """What each part runs; ``--set key=value`` overrides any of them."""

    matmul: int = 8192
    dit_config: str = "configs/dit/s2acc_402m.yaml"
    dit_text_dim: int = 512  # the CLAP text embedding the 402M DiT is conditioned on
    peer: dict = field(
        default_factory=lambda: dict(
            num_layers=20, attention_head_dim=64, num_attention_heads=16, num_key_value_attention_heads=16,
            cross_attention_dim=768, in_channels=64, out_channels=64,
        )
    )  # fmt: skip
    train_batch: int = 0  # 0: the config's per-GPU batch
    train_seconds: tuple = (10.0, 30.0)
    rounds: int = 4
    warmup: int = 3
    steps: int = 10
    vae: str = "full"
    vae_seconds: float = 10.0
    vae_repeats: int = 5
    demucs: str = "full"
    demucs_seconds: float = 60.0
    clap_text_layers: int = 12  # roberta-base
    clap_clips: int = 10
    clap_seconds: float = 10.0
    clap_batch: int = 16
    prompts: int = 100
    gen_seconds: float = 10.0
    gen_steps: int = 32
    gen_batch: int = 16
    cfg_scale: float = 4.0
    gen_precisions: tuple = ("fp32", "bf16")


DRY = Sizes(
    matmul=256,
    dit_config="configs/dit/tiny.yaml",
    peer=dict(
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=4,
        num_key_value_attention_heads=4,
        cross_attention_dim=64,
        in_channels=16,
        out_channels=16,
    ),
    train_batch=2,
    train_seconds=(0.5,),
    rounds=2,
    warmup=1,
    steps=2,
    vae="tiny",
    vae_seconds=0.25,
    vae_repeats=2,
    demucs="tiny",
    demucs_seconds=0.5,
    clap_text_layers=1,
    clap_clips=1,
    clap_seconds=0.5,
    clap_batch=1,
    prompts=2,
    gen_seconds=0.25,
    gen_steps=2,
    gen_batch=2,
)


class BudgetExceeded(Exception):
    pass


def _on_alarm(signum, frame):
    raise BudgetExceeded("stopped: the run's time budget ran out")


class Run:
    """The device, the sizes, the time budget and what parts share (peaks, the CLAP model)."""

    def __init__(self, device: str, sizes: Sizes, budget: float):
        import torch

        self.torch, self.device, self.sizes = torch, torch.device(device), sizes
        self.deadline = START + budget
        self.cuda = self.device.type == "cuda"

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def timed(self, fn, repeats: int = 1) -> float:
        """Seconds per call of ``fn``, the device synchronised before and after."""
        self.sync()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        self.sync()
        return (time.perf_counter() - start) / repeats

    def autocast(self, precision: str):
        import contextlib

        if precision == "fp32":
            return contextlib.nullcontext()
        return self.torch.autocast(self.device.type, dtype=self.torch.bfloat16)

    @functools.cached_property
    def peaks(self) -> dict:
        """Best matmul FLOP/s over five rounds of four n^2 products, bf16 and fp32."""
        torch, n = self.torch, self.sizes.matmul
        out = {}
        for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
            a, b = (torch.randn(n, n, device=self.device, dtype=dtype) for _ in range(2))
            c = a @ b  # warm-up (and the cuBLAS handle)

            def product(a=a, b=b, c=c):
                torch.matmul(a, b, out=c)

            best = min(self.timed(product, repeats=4) for _ in range(5))
            out[f"{name}_flops"] = 2 * n**3 / best
        return out

    @functools.cached_property
    def clap(self):
        """LAION-CLAP built as s2acc builds it (``s2acc.clap.build_clap_module``): the HTSAT-base audio
        tower and a RoBERTa text tower of roberta-base's shape, random weights. No tokenizer files are
        at hand, so a word-level one stands in (every prompt becomes one token)."""
        torch = self.torch
        from tokenizers import Tokenizer, models
        from transformers import PreTrainedTokenizerFast, RobertaConfig

        from s2acc.clap import build_clap_module

        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=Tokenizer(models.WordLevel({"<pad>": 0, "<unk>": 1}, unk_token="<unk>")),
            pad_token="<pad>",
        )
        config = RobertaConfig(
            vocab_size=50265, hidden_size=768, num_hidden_layers=self.sizes.clap_text_layers,
            num_attention_heads=12, intermediate_size=3072, max_position_embeddings=514,
            type_vocab_size=1, pad_token_id=0,
        )  # fmt: skip
        torch.manual_seed(0)
        return build_clap_module(config, tokenizer, device=str(self.device))


# ------------------------------------------------------------------------------------------ parts


def part_peak(run: Run) -> dict:
    return {"matmul_n": run.sizes.matmul, **{k: round(v) for k, v in run.peaks.items()}}


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def dit_setup(run: Run):
    """The DiT's model and train sections from its config YAML (read directly: the model and the
    trainer's optimiser need nothing else)."""
    import yaml

    from s2acc.dit.model import DiTConfig
    from s2acc.train import TrainConfig

    raw = yaml.safe_load((ROOT / run.sizes.dit_config).read_text())
    model = DiTConfig(**{**raw["model"], "text_dim": run.sizes.dit_text_dim})
    return model, TrainConfig(**raw["train"])


def dit_forward_flops(model, batch: int, seq: int) -> int:
    """Matmul FLOPs of one forward: 2 per weight of the blocks per token, plus attention (QK^T, AV)."""
    weights = sum(p.numel() for n, p in model.named_parameters() if p.ndim == 2 and n.startswith("blocks."))
    return 2 * weights * batch * seq + 4 * seq * seq * model.cfg.width * model.cfg.depth * batch


def train_step(run: Run, model, velocity, x1, train_cfg):
    """One optimiser step as ``s2acc.train.Trainer`` takes it on a GPU with ``mixed_precision: bf16``."""
    import torch

    from s2acc.dit.flow import flow_matching_loss
    from s2acc.train.ema import EMA
    from s2acc.train.trainer import adamw

    opt = adamw(model.parameters(), train_cfg)
    ema = EMA(model, train_cfg.ema_decay)

    def step():
        with run.autocast("bf16"):
            loss = flow_matching_loss(velocity, x1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        ema.update(model)

    return step


def part_dit_train(run: Run) -> dict:
    torch, s, dev = run.torch, run.sizes, run.device
    from diffusers import StableAudioDiTModel
    from diffusers.models.embeddings import get_1d_rotary_pos_embed

    from s2acc.dit.model import LatentDiT
    from s2acc.rates import LATENT_RATE

    cfg, train_cfg = dit_setup(run)
    batch = s.train_batch or train_cfg.batch_size
    torch.manual_seed(0)
    ours = LatentDiT(cfg).to(dev).train()
    peer = StableAudioDiTModel(**s.peer).to(dev).train()
    head_dim, pc = s.peer["attention_head_dim"], peer.config
    out = {
        "batch": batch,
        "params": {"ours": count(ours), "peer": count(peer)},
        "peak_bf16_flops": round(run.peaks["bf16_flops"]),
        "lengths": {},
    }
    for seconds in s.train_seconds:
        frames = math.ceil(seconds * LATENT_RATE)
        x1 = torch.randn(batch, cfg.latent_dim, frames, device=dev)
        # Ours: one pooled CLAP text token and two timing tokens in context, 10% of prompts dropped.
        text = torch.randn(batch, 1, cfg.text_dim, device=dev)
        mask = torch.ones(batch, 1, dtype=torch.bool, device=dev)
        start, total = torch.zeros(batch, device=dev), torch.full((batch,), seconds, device=dev)
        drop = torch.rand(batch, device=dev) < 0.1

        def ours_velocity(x, t, text=text, mask=mask, start=start, total=total, drop=drop):
            return ours(x, t, text, mask, start, total, drop_text=drop)

        # The peer: cross-attention over 130 tokens (128 T5 states + 2 timing) and one global token.
        context = torch.randn(batch, 130, pc.cross_attention_input_dim, device=dev)
        global_states = torch.randn(batch, 1, pc.global_states_input_dim, device=dev)
        rope = get_1d_rotary_pos_embed(head_dim // 2, frames + 1, use_real=True, repeat_interleave_real=False)
        rope = tuple(r.to(dev) for r in rope)

        def peer_velocity(x, t, context=context, global_states=global_states, rope=rope):
            return peer(x, t * 1000, context, global_states, rotary_embedding=rope, return_dict=False)[0]

        steps = {
            "ours": train_step(run, ours, ours_velocity, x1, train_cfg),
            "peer": train_step(run, peer, peer_velocity, x1, train_cfg),
        }
        for step in steps.values():
            for _ in range(s.warmup):  # allocates the optimiser state, the kernels' workspaces
                step()
        times: dict[str, list[float]] = {"ours": [], "peer": []}
        for r in range(s.rounds):
            for name in ("ours", "peer") if r % 2 == 0 else ("peer", "ours"):
                times[name].append(run.timed(steps[name], repeats=s.steps))
        med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
        seq = frames + 3
        flops = 3 * dit_forward_flops(ours, batch, seq)  # forward + backward (twice the forward)
        mfu = flops / med["ours"] / run.peaks["bf16_flops"]
        out["lengths"][f"{seconds:g}s"] = {
            "frames": frames,
            "step_seconds": {k: round(v, 5) for k, v in med.items()},
            "step_seconds_rounds": {k: [round(t, 5) for t in v] for k, v in times.items()},
            "latent_frames_per_s": {k: round(batch * frames / v, 1) for k, v in med.items()},
            "ours_sequence_tokens_per_s": round(batch * seq / med["ours"], 1),
            "ours_step_flops": flops,
            "mfu": round(mfu, 4),
            "ratio_ours_over_peer": round(med["ours"] / med["peer"], 4),
            "mfu_at_least_0.40": bool(mfu >= 0.40),
            "ours_faster_than_peer": bool(med["ours"] < med["peer"]),
        }
        del steps
        gc.collect()
    return out


def conv_flops(module, call) -> int:
    """FLOPs (2 per multiply-add) of the convolutions and linear layers that ``call`` runs in ``module``,
    counted from their shapes by forward hooks."""
    from torch import nn

    total = 0

    def hook(layer, inputs, output):
        nonlocal total
        if isinstance(layer, nn.ConvTranspose1d):  # every input sample is spread over the kernel
            total += 2 * inputs[0].numel() * (layer.out_channels // layer.groups) * layer.kernel_size[0]
        elif isinstance(layer, nn.Conv1d):
            total += 2 * output.numel() * (layer.in_channels // layer.groups) * layer.kernel_size[0]
        else:
            total += 2 * output.numel() * layer.in_features

    kinds = (nn.Conv1d, nn.ConvTranspose1d, nn.Linear)
    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, kinds)]
    try:
        call()
    finally:
        for h in handles:
            h.remove()
    return total


def part_vae(run: Run) -> dict:
    torch, s = run.torch, run.sizes
    from s2acc.vae import build_vae, decode, encode

    vae = build_vae(s.vae, seed=0).to(run.device)
    audio = 0.1 * torch.randn(1, 2, int(s.vae_seconds * SR), device=run.device)
    with torch.no_grad():
        z = encode(vae, audio)
        decode(vae, z)  # warm-up of both halves
        enc = sorted(run.timed(lambda: encode(vae, audio)) for _ in range(s.vae_repeats))
        dec = sorted(run.timed(lambda: decode(vae, z)) for _ in range(s.vae_repeats))
        dec_flops = conv_flops(vae.decoder, lambda: decode(vae, z))
    enc_s, dec_s = enc[len(enc) // 2], dec[len(dec) // 2]
    return {
        "config": s.vae,
        "params": count(vae),
        "audio_seconds": s.vae_seconds,
        "encode_seconds": round(enc_s, 5),
        "decode_seconds": round(dec_s, 5),
        "encode_real_time_factor": round(s.vae_seconds / enc_s, 2),
        "decode_real_time_factor": round(s.vae_seconds / dec_s, 2),
        "decode_flops": dec_flops,
    }


def htdemucs(kind: str):
    """htdemucs as released (955717e8, 42M: 5 cross-transformer layers over 512 bottom channels, DConv
    branches in encoder and decoder, a 7.8 s model segment; demucs' training docs and mmi grid), or a
    tiny one of the same architecture for --dry."""
    from fractions import Fraction

    from demucs.htdemucs import HTDemucs

    if kind == "tiny":
        return HTDemucs(
            sources=SOURCES, samplerate=8000, segment=Fraction(1), channels=8, depth=2, nfft=256,
            t_layers=1, t_heads=2, dconv_comp=4,
        )  # fmt: skip
    return HTDemucs(
        sources=SOURCES, segment=Fraction(39, 5), bottom_channels=512, dconv_mode=3, t_dropout=0.02
    )


def part_separate(run: Run) -> dict:
    import numpy as np

    from data_pipeline.separation import DemucsSeparator

    s = run.sizes
    run.torch.manual_seed(0)
    model = htdemucs(s.demucs)
    segment = None if s.demucs == "tiny" else 7.8  # configs/data/attm.yaml: segment 7.8, overlap 0.25
    sep = DemucsSeparator(model=model, device=str(run.device), segment=segment, overlap=0.25, shifts=0)
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((2, int(s.demucs_seconds * SR)))).astype(np.float32)
    sep.separate(audio[:, : audio.shape[1] // 4], SR)  # warm-up
    seconds = run.timed(lambda: sep.separate(audio, SR))
    return {
        "model": s.demucs,
        "params": count(model),
        "audio_seconds": s.demucs_seconds,
        "seconds": round(seconds, 4),
        "real_time_factor": round(s.demucs_seconds / seconds, 2),
    }


def part_clap(run: Run) -> dict:
    import numpy as np

    from eval.embedders import ClapEmbedder
    from s2acc.clap import CLAP_WINDOW

    s, torch = run.sizes, run.torch
    embedder = ClapEmbedder(device=str(run.device), batch_size=s.clap_batch, model_obj=run.clap)
    rng = np.random.default_rng(0)
    t = np.arange(int(s.clap_seconds * SR)) / SR
    clips = [
        (0.2 * np.sin(2 * np.pi * rng.uniform(100, 800) * t) + 0.05 * rng.standard_normal((2, len(t))))
        .astype(np.float32)
        for _ in range(s.clap_clips)
    ]  # fmt: skip
    embedder.embed(clips[0], SR)  # warm-up
    windows = 0

    def embed_all():
        nonlocal windows
        windows = sum(len(embedder.embed(clip, SR)) for clip in clips)

    seconds = run.timed(embed_all)
    batch = 0.1 * torch.randn(s.clap_batch, CLAP_WINDOW, device=run.device)
    with torch.no_grad():
        call = functools.partial(run.clap.get_audio_embedding_from_data, batch, use_tensor=True)
        call()
        model_s = run.timed(call, repeats=3)
    return {
        "clips": s.clap_clips,
        "clip_seconds": s.clap_seconds,
        "windows": windows,
        "seconds": round(seconds, 4),
        "windows_per_s": round(windows / seconds, 2),
        "model_only_windows_per_s": round(s.clap_batch / model_s, 2),
        "batch": s.clap_batch,
    }


def part_generate(run: Run) -> dict:
    import pandas as pd

    from s2acc.dit.generate import Generator, generate_csv, prompt_seed
    from s2acc.dit.model import LatentDiT
    from s2acc.dit.text import clap_text
    from s2acc.rates import LATENT_RATE
    from s2acc.vae import build_vae, decode

    torch, s = run.torch, run.sizes
    cfg, _ = dit_setup(run)
    torch.manual_seed(0)
    meta = {
        "text_encoder": "clap",
        "vae": s.vae,
        "latent_stats": {"mean": [0.0] * cfg.latent_dim, "std": [1.0] * cfg.latent_dim},
    }
    text = clap_text(run.clap).to(run.device)
    gen = Generator(
        LatentDiT(cfg), meta, text_encoder=text, vae=build_vae(s.vae, seed=0), device=str(run.device)
    )
    words = ["calm", "driving", "bright", "dark", "piano", "guitar", "synth", "drums", "strings", "bass"]
    prompts = pd.DataFrame(
        {"id": [f"p{i:03d}" for i in range(s.prompts)],
         "prompt": [f"{words[i % 10]} {words[(i // 10) % 10]} track number {i}" for i in range(s.prompts)]}
    )  # fmt: skip
    sampling = {"steps": s.gen_steps, "cfg_scale": s.cfg_scale, "method": "euler"}
    frames = max(1, math.ceil(s.gen_seconds * LATENT_RATE))
    batches = math.ceil(s.prompts / s.gen_batch)
    first = prompts["prompt"][: s.gen_batch].tolist()
    seeds = [prompt_seed(0, i) for i in prompts["id"][: s.gen_batch]]
    with torch.no_grad():
        z = gen.latents(first[:1], s.gen_seconds, seeds[:1], **sampling)
        decoder_flops = conv_flops(gen.vae.decoder, lambda: decode(gen.vae, z))
    dit_flops = s.gen_steps * dit_forward_flops(gen.model, 2 * s.prompts, frames + 3)  # CFG: two rows
    flops = dit_flops + s.prompts * decoder_flops
    out = {
        "prompts": s.prompts,
        "clip_seconds": s.gen_seconds,
        "batch": s.gen_batch,
        **sampling,
        "flops": {"dit": dit_flops, "vae_decode": s.prompts * decoder_flops, "total": flops},
        "floor_seconds": {k.split("_")[0]: round(flops / v, 3) for k, v in run.peaks.items()},
        "precisions": {},
    }
    for precision in s.gen_precisions:
        if run.cuda:
            torch.cuda.reset_peak_memory_stats()
        with run.autocast(precision):
            at = {**sampling, "precision": precision}
            warm = run.timed(lambda at=at: gen.audio(first, s.gen_seconds, seeds, **at))  # warm-up batch
            if warm * batches > run.left():
                out["precisions"][precision] = {
                    "skipped": f"~{warm * batches:.0f} s needed, {run.left():.0f} s left"
                }
                continue
            with torch.no_grad():  # one batch split into its two stages
                sample_s = run.timed(lambda: gen.latents(first, s.gen_seconds, seeds, **sampling))
                decode_s = run.timed(lambda: decode(gen.vae, z.repeat(len(first), 1, 1)))
            with tempfile.TemporaryDirectory() as folder:
                seconds = run.timed(
                    lambda folder=folder, at=at: generate_csv(
                        gen, prompts, folder, seconds=s.gen_seconds, batch_size=s.gen_batch, seed=0,
                        progress=False, **at,
                    )
                )  # fmt: skip
        out["precisions"][precision] = {
            "seconds": round(seconds, 3),
            "compute_seconds_per_clip": round(seconds / s.prompts, 4),
            "one_batch": {"sample_seconds": round(sample_s, 4), "decode_seconds": round(decode_s, 4)},
            "within_15s": bool(seconds <= 15.0),
            **memory(run),
        }
    for key in ("gpu_peak_mib", "rss_peak_mib"):  # the part's peak: the larger of the two runs'
        peaks = [p[key] for p in out["precisions"].values() if key in p]
        if peaks:
            out[key] = max(peaks)
    return out


PARTS = {
    "peak": part_peak,
    "dit_train": part_dit_train,
    "vae": part_vae,
    "separate": part_separate,
    "clap": part_clap,
    "generate": part_generate,
}
assert tuple(PARTS) == PART_NAMES


# ------------------------------------------------------------------------------------------ driver


def use_wheels(folder: Path) -> dict:
    """Install the carried wheels into a temporary folder and import from there, when the modules the
    parts need are missing (a GPU machine with no registry). Appended to the path: what the machine
    has already wins."""
    missing = [m for m in CARRIED if importlib.util.find_spec(m) is None]
    if not missing:
        return {"needed": False}
    wheels = sorted(str(p) for p in folder.glob("*.whl"))
    if not wheels:
        return {"needed": True, "missing": missing, "error": f"no wheels in {folder}: make bench-gpu-wheels"}
    target = tempfile.mkdtemp(prefix="s2acc-wheels-")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile"]
    cmd += ["--no-cache-dir", "--disable-pip-version-check", "--target", target, *wheels]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        return {"needed": True, "missing": missing, "error": done.stderr.strip()[-2000:]}
    sys.path.append(target)
    importlib.invalidate_caches()
    return {"needed": True, "missing": missing, "installed": [Path(w).name for w in wheels]}


def pack_wheels(folder: Path) -> None:
    """Drop diffusers' pipelines from its wheel (4 of its 6 MB; the parts import only its models and
    utilities), then report what would travel: the tracked tree (the small models in it take 55 MiB)
    and the wheels must stay under the 64 MiB a GPU machine's copy may hold."""
    import zipfile

    drop = re.compile(r"diffusers/(pipelines|modular_pipelines)/[^/]+/")
    for wheel in folder.glob("diffusers-*.whl"):
        with zipfile.ZipFile(wheel) as src:
            kept = [(i, src.read(i)) for i in src.infolist() if not drop.match(i.filename)]
        tmp = wheel.with_name(wheel.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
            for info, data in kept:
                if info.filename.endswith(".dist-info/RECORD"):
                    lines = data.decode().splitlines(keepends=True)
                    data = "".join(line for line in lines if not drop.match(line)).encode()
                dst.writestr(info, data)
        tmp.replace(wheel)
    wheels = sum(p.stat().st_size for p in folder.glob("*.whl")) / 2**20
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True).stdout
    tree = sum((ROOT / f).stat().st_size for f in files.split("\0") if f and (ROOT / f).is_file()) / 2**20
    print(f"wheels {wheels:.1f} MiB + tracked tree {tree:.1f} MiB = {wheels + tree:.1f} MiB (limit 64)")
    if wheels + tree > 62:
        raise SystemExit("too close to the 64 MiB a GPU machine's copy of the tree may hold")


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def device_info(run: Run) -> dict:
    torch = run.torch
    if not run.cuda:
        name = metadata()["machine"]["cpu"]
        return {"name": name, "slug": "cpu-" + slug(name), "type": "cpu", "torch": torch.__version__}
    props = torch.cuda.get_device_properties(run.device)
    return {
        "name": props.name,
        "slug": slug(props.name),
        "type": "cuda",
        "memory_gib": round(props.total_memory / 2**30, 1),
        "multiprocessors": props.multi_processor_count,
        "capability": f"{props.major}.{props.minor}",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
    }


def stamp(wheels: Path) -> dict:
    """metadata(); where git is absent (a copy of the tree on a GPU machine), the commit that
    ``make bench-gpu-wheels`` recorded beside the wheels."""
    meta = metadata()
    recorded = wheels / "commit.json"
    if meta["commit"] == "unknown" and recorded.exists():
        meta.update(json.loads(recorded.read_text()), commit_source=str(recorded))
    return meta


def memory(run: Run) -> dict:
    if run.cuda:
        return {"gpu_peak_mib": round(run.torch.cuda.max_memory_allocated() / 2**20, 1)}
    return {"rss_peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def run_part(run: Run, name: str) -> dict:
    if run.left() <= 0:
        return {"ok": False, "error": "skipped: the run's time budget ran out"}
    if run.cuda:
        run.torch.cuda.empty_cache()
        run.torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        result = PARTS[name](run)
    except Exception as err:  # noqa: BLE001 - one part's failure must not cost the others
        return {
            "ok": False,
            "error": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc()[-3000:],
            "part_seconds": round(time.perf_counter() - start, 2),
        }
    finally:
        gc.collect()
    return {"ok": True, "part_seconds": round(time.perf_counter() - start, 2), **memory(run), **result}


def summary(parts: dict) -> dict:
    """The headline figures and their targets, from whichever parts succeeded."""
    out: dict = {"targets": TARGETS}
    if parts.get("dit_train", {}).get("ok"):
        out["dit_train"] = {
            length: {
                k: v[k] for k in ("mfu", "ratio_ours_over_peer", "mfu_at_least_0.40", "ours_faster_than_peer")
            }
            for length, v in parts["dit_train"]["lengths"].items()
        }
    if parts.get("generate", {}).get("ok"):
        g = parts["generate"]
        out["generate_seconds"] = {k: v.get("seconds") for k, v in g["precisions"].items()}
        out["generate_floor_seconds"] = g["floor_seconds"]
    for name, key in (("vae", "encode_real_time_factor"), ("vae", "decode_real_time_factor"),
                      ("separate", "real_time_factor"), ("clap", "windows_per_s")):  # fmt: skip
        if parts.get(name, {}).get("ok"):
            out[f"{name}_{key}"] = parts[name][key]
    return out


def parse_sets(sizes: Sizes, pairs: list[str]) -> Sizes:
    import yaml

    changes = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        names = [f.name for f in dataclasses.fields(Sizes)]
        if key not in names:
            raise SystemExit(f"--set {key}: not one of {', '.join(names)}")
        parsed = yaml.safe_load(value)
        changes[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    return dataclasses.replace(sizes, **changes)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dry", action="store_true", help="CPU, tiny sizes: the code paths only")
    parser.add_argument(
        "--parts", default=",".join(PART_NAMES), help=f"comma list of {', '.join(PART_NAMES)}"
    )
    parser.add_argument("--device", help="default: cuda when present (cpu with --dry)")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for the whole run (default 450)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override a size")
    parser.add_argument("--wheels", type=Path, default=ROOT / "runs/wheels", help="carried wheels")
    parser.add_argument("--out", type=Path, help="default benchmarks/results/gpu-<device>.json")
    parser.add_argument("--pack-wheels", action="store_true", help="slim --wheels for carrying, and stop")
    args = parser.parse_args()
    if args.pack_wheels:
        pack_wheels(args.wheels)
        return
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PART_NAMES))
    if unknown:
        parser.error(f"unknown part(s) {unknown}; choose from {', '.join(PART_NAMES)}")

    wheels = use_wheels(args.wheels)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() and not args.dry else "cpu")
    sizes = parse_sets(DRY if args.dry else Sizes(), args.set)
    run = Run(device, sizes, args.budget)
    info = device_info(run)
    if args.out is None:  # only a real run on a GPU goes to the committed results
        folder = ROOT / ("benchmarks/results" if run.cuda and not args.dry else "runs/bench")
        args.out = folder / ("gpu-dry.json" if args.dry else f"gpu-{info['slug']}.json")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "gpu",
        **stamp(args.wheels),
        "device": info,
        "dry": args.dry,
        "random_weights": True,
        "budget_seconds": args.budget,
        "wheels": wheels,
        "setup": dataclasses.asdict(sizes),
        "parts": {},
    }
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(max(1, math.ceil(run.left())))  # a part still running at the deadline is stopped
    try:
        for name in parts:
            try:
                result["parts"][name] = run_part(run, name)
            except BudgetExceeded as err:  # raised between the part's own try and its return
                result["parts"][name] = {"ok": False, "error": str(err)}
            status = "ok" if result["parts"][name]["ok"] else result["parts"][name]["error"].splitlines()[0]
            print(f"{name}: {status} ({time.monotonic() - START:.0f} s)", flush=True)
            result["summary"] = summary(result["parts"])
            result["wall_seconds"] = round(time.monotonic() - START, 1)
            args.out.write_text(json.dumps(result, indent=1) + "\n")
    finally:
        signal.alarm(0)
    print(json.dumps(result["summary"], indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

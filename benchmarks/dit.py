"""The 402M DiT on CPU: a training step against diffusers' StableAudioDiTModel, MFU, sampling speed.

Full `configs/dit/s2acc_402m.yaml` model, 10 s of latents (216 frames, 64 channels), batch 2, fp32:

(a) one training step (forward, backward, AdamW step) timed against diffusers' StableAudioDiTModel
    at about the same size (20 layers, 16 heads of 64, cross-attention 768: ~399M) on the same latents
    and timesteps. Each model gets the conditioning its design uses: ours the configured in-context
    tokens (one pooled CLAP text token + two timing tokens); Stable Audio's cross-attention over 130
    tokens (128 T5 states + 2 timing) and one global token. Ours is also timed with 128 text tokens in
    context (the flan-t5 layout), the heavier of its options. Target: ratio <= 1.0.
(b) the step's achieved FLOP/s (matmul FLOPs counted from the shapes: 6 per weight per token, plus
    attention) as a fraction of this machine's fp32 matmul peak (best of three 4096^2 matmuls),
    measured in the same round as the step. Target: >= 50%.
(c) sampling real-time factor: 10 s, 32 Euler steps with CFG (a doubled batch), one clip.

Both models train as the trainer runs them on CPU: the fused AdamW, and glibc told to keep freed memory
(``s2acc.train.allocator``), without which every step page-faults its activations and gradients in again.

This machine is shared and its speed drifts by more than the margins measured here, so the
comparison runs in rounds: each round times ours and the peer in fresh processes (one model each: two
400M models with AdamW state in one process time differently depending on which was built first),
in ABBA order over the rounds. The ratio is the median over rounds of the ratio of median step times;
the MFU uses the peak probed in the same process, before and after its steps.

    python benchmarks/dit.py [--rounds 6] [--steps 4] [--sample-steps 32] [--default-allocator]

``--default-allocator`` leaves glibc's malloc as it is in both models' processes, to measure what the
trainer's setting is worth.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks._meta import metadata  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FRAMES, BATCH = 216, 2


def ours(text_tokens: int):
    import torch

    from s2acc.config import load_config
    from s2acc.dit.model import LatentDiT
    from s2acc.dit.train import DiTTrainConfig

    cfg = load_config(DiTTrainConfig, ROOT / "configs/dit/s2acc_402m.yaml").model
    model = LatentDiT(cfg)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, 64, FRAMES, generator=g)
    t = torch.rand(BATCH, generator=g)
    text = torch.randn(BATCH, text_tokens, cfg.text_dim, generator=g)
    mask = torch.ones(BATCH, text_tokens, dtype=torch.bool)
    secs = torch.zeros(BATCH), torch.full((BATCH,), 10.0)

    def forward():
        return model(x, t, text, mask, *secs)

    tokens = BATCH * (FRAMES + text_tokens + 2)
    weights = sum(p.numel() for n, p in model.named_parameters() if p.ndim == 2 and "blocks" in n)
    seq = FRAMES + text_tokens + 2
    attention = 4 * seq * seq * cfg.width * cfg.depth * BATCH  # QK^T and AV, forward
    flops = 3 * (2 * weights * tokens + attention)  # forward + backward (twice the forward)
    return model, forward, x, flops


def peer():
    import torch
    from diffusers import StableAudioDiTModel
    from diffusers.models.embeddings import get_1d_rotary_pos_embed

    model = StableAudioDiTModel(
        num_layers=20, attention_head_dim=64, num_attention_heads=16, num_key_value_attention_heads=16,
        cross_attention_dim=768, in_channels=64, out_channels=64,
    )  # fmt: skip
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, 64, FRAMES, generator=g)
    t = torch.rand(BATCH, generator=g) * 1000
    context = torch.randn(BATCH, 130, 768, generator=g)
    global_states = torch.randn(BATCH, 1, 1536, generator=g)
    rope = get_1d_rotary_pos_embed(32, FRAMES + 1, use_real=True, repeat_interleave_real=False)

    def forward():
        return model(x, t, context, global_states, rotary_embedding=rope, return_dict=False)[0]

    return model, forward, x, None


MODELS = {"ours": lambda: ours(1), "ours-t5": lambda: ours(128), "peer": peer}


def trainer_step(which: str):
    """(one-step closure, parameter count, step FLOPs) for a model, with the trainer's optimiser."""
    from s2acc.train import TrainConfig
    from s2acc.train.trainer import adamw

    model, forward, x, flops = MODELS[which]()
    model.train()
    opt = adamw(model.parameters(), TrainConfig(lr=1e-4))  # the optimiser the trainer uses, for both

    def step():
        loss = (forward() - x).pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(2):  # untimed: the first allocates the optimiser state, the heap settles by the second
        step()
    return step, sum(p.numel() for p in model.parameters()), flops


def matmul_peak(reps: int = 3) -> float:
    """Best FLOP/s of square fp32 matmuls (4096: the largest this machine runs at its peak)."""
    import torch

    a, b = torch.randn(4096, 4096), torch.randn(4096, 4096)
    a @ b
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 4096**3 / best


def train_steps(kind: str, steps: int, keep_memory: bool = True) -> dict:
    """One model's timed training steps, between two matmul-peak probes."""
    import torch

    from s2acc.train.allocator import keep_freed_memory

    kept = keep_memory and keep_freed_memory()  # the trainer's CPU allocator setting, for both models
    step, params, flops = trainer_step(kind)
    peaks, times = [matmul_peak()], []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peaks.append(matmul_peak())
    return {"threads": torch.get_num_threads(), "allocator_keeps_freed_memory": kept,
            "params": params, "step_flops": flops,
            "step_seconds": times, "peak_fp32_matmul_flops": max(peaks)}  # fmt: skip


def sampling(steps: int) -> dict:
    import torch

    from s2acc.dit.flow import guided, sample

    model, _, _, _ = ours(1)
    model.eval()
    g = torch.Generator().manual_seed(0)
    text = torch.randn(1, 1, model.cfg.text_dim, generator=g)
    mask = torch.ones(1, 1, dtype=torch.bool)

    def velocity(x, t, drop):
        n = x.shape[0]
        return model(
            x,
            t,
            text.expand(n, -1, -1),
            mask.expand(n, -1),
            torch.zeros(n),
            torch.full((n,), 10.0),
            drop_text=drop,
        )

    noise = torch.randn(1, 64, FRAMES, generator=g)
    with torch.inference_mode():
        start = time.perf_counter()
        sample(guided(velocity, 4.0), noise, steps)
        seconds = time.perf_counter() - start
    return {"steps": steps, "seconds": seconds, "real_time_factor": 10.0 / seconds}


def worker(kind: str, args) -> dict:
    if kind == "sample":
        return sampling(args.sample_steps)
    return train_steps(kind, args.steps, not args.default_allocator)


def run_worker(kind: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--steps", str(args.steps)]
    cmd += ["--sample-steps", str(args.sample_steps)] + ["--default-allocator"] * args.default_allocator
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def compare(ours: str, args, rounds: int) -> dict:
    """Rounds of (ours, peer) processes in ABBA order; per round, the ratio of median step times and
    the MFU against the peak measured in ours' process. Medians over rounds."""
    results = []
    for r in range(rounds):
        pair = {}
        for kind in (ours, "peer") if r % 2 == 0 else ("peer", ours):
            pair[kind] = run_worker(kind, args)
            print(f"round {r} {kind}", json.dumps(pair[kind]), flush=True)
        results.append(pair)
    mine = [statistics.median(p[ours]["step_seconds"]) for p in results]
    theirs = [statistics.median(p["peer"]["step_seconds"]) for p in results]
    peaks = [p[ours]["peak_fp32_matmul_flops"] for p in results]
    mfus = [p[ours]["step_flops"] / t / peak for p, t, peak in zip(results, mine, peaks, strict=True)]
    return {
        "train_step_ratio": round(statistics.median(a / b for a, b in zip(mine, theirs, strict=True)), 4),
        "mfu": round(statistics.median(mfus), 4),
        "step_seconds_median": {ours: statistics.median(mine), "peer": statistics.median(theirs)},
        "rounds": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=6, help="(ours, peer) process pairs (default 6)")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per process (default 4)")
    parser.add_argument("--sample-steps", type=int, default=32)
    parser.add_argument(
        "--default-allocator", action="store_true", help="leave glibc's malloc settings alone in both"
    )
    parser.add_argument("--out", type=Path, help="default benchmarks/results/dit[-default-allocator].json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return
    name = "dit-default-allocator.json" if args.default_allocator else "dit.json"
    args.out = args.out or ROOT / "benchmarks/results" / name

    main_pair = compare("ours", args, args.rounds)
    t5_pair = compare("ours-t5", args, max(2, args.rounds // 2))  # the heavier layout, for reference
    results = {"sample": run_worker("sample", args)}
    print("sample", json.dumps(results["sample"]), flush=True)
    result = {
        **metadata(),
        "device": "cpu",
        "setup": {
            "config": "configs/dit/s2acc_402m.yaml",
            "frames": FRAMES,
            "batch": BATCH,
            "dtype": "float32",
            "rounds": args.rounds,
            "steps_per_process": args.steps,
            "allocator": "glibc defaults" if args.default_allocator else "keep_freed_memory",
        },
        "results": results,
        "ours": main_pair,
        "ours_t5_layout": t5_pair,
        "train_step_ratio_ours_over_stable_audio_dit": main_pair["train_step_ratio"],
        "train_step_ratio_ours_t5_layout_over_stable_audio_dit": t5_pair["train_step_ratio"],
        "mfu_fraction_of_fp32_matmul_peak": main_pair["mfu"],
        "mfu_t5_layout": t5_pair["mfu"],
        "sampling_real_time_factor_10s_32_steps_cfg": round(results["sample"]["real_time_factor"], 4),
        "targets": {"train_step_ratio": "<= 1.0", "mfu": ">= 0.5"},
        "met": bool(main_pair["train_step_ratio"] <= 1.0 and main_pair["mfu"] >= 0.5),
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("results", "machine")}, indent=1))


if __name__ == "__main__":
    main()

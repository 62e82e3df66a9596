"""Which small VAE to pretrain: candidate shapes trained the same way, compared on held-out audio.

Each candidate is the small recipe (``configs/vae/small-pretrain.yaml``) from its own random weights (seed 0),
trained for ``--steps`` with the project's trainer, one thread per run, the runs side by side. Every
saved checkpoint's live weights then reconstruct 8 s from each of 8 held-out tracks
(``configs/synth/heldout.yaml``), scored by multi-resolution STFT distance, mel L1 and SI-SDR; the
seconds per step say what each costs.

    python benchmarks/vae_candidates.py --steps 300            # train both, then evaluate
    python benchmarks/vae_candidates.py --evaluate-only        # evaluate the runs' checkpoints
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

sys.path[0] = str(Path(__file__).resolve().parents[1])
from benchmarks._meta import metadata  # noqa: E402
from s2acc.config import load_config  # noqa: E402
from s2acc.synth.corpus import SynthConfig, generate_track  # noqa: E402
from s2acc.vae.evaluate import distances, reconstruct  # noqa: E402
from s2acc.vae.oobleck import FULL_CONFIG, SMALL_CONFIG, build_vae  # noqa: E402
from s2acc.vae.train import vae_state  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = {
    "latent16": {
        **FULL_CONFIG,
        "encoder_hidden_size": 32,
        "channel_multiples": [1, 1, 2, 4, 8],
        "decoder_channels": 32,
        "decoder_input_channels": 16,
    },
    "latent32": SMALL_CONFIG,
}


def write_init(config: dict, folder: Path) -> None:
    vae = build_vae(config, seed=0)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"_class_name": "AutoencoderOobleck", **config}))


def train(work: Path, steps: int, dataset: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    runs = []
    for name, config in CANDIDATES.items():
        write_init(config, work / name / "init")
        config_file = str(ROOT / "configs/vae/small-pretrain.yaml")
        command = [sys.executable, "-m", "s2acc", "train-vae", "--config", config_file]
        overrides = [f"model.init={work / name / 'init'}", f"out={work / name}", f"data.dataset={dataset}"]
        overrides += [f"train.max_steps={steps}", "demo.every=0", "train.keep_checkpoints=100"]
        runs.append(subprocess.Popen([*command, "--quiet", *overrides], env=env))
    if any(run.wait() for run in runs):
        raise SystemExit("a candidate's training failed")


@torch.no_grad()
def evaluate(config: dict, checkpoint: Path, tracks: int = 8) -> dict[str, float]:
    vae = build_vae(config, seed=None)
    vae.load_state_dict(vae_state(load_file(str(checkpoint / "model.safetensors"))), strict=True)
    vae.eval()
    corpus = load_config(SynthConfig, ROOT / "configs/synth/heldout.yaml", [f"n_tracks={tracks}"])
    totals = {"mrstft": 0.0, "mel_l1": 0.0, "si_sdr": 0.0}
    for i in range(tracks):
        audio = generate_track(corpus, i).audio[:, 5 * corpus.sample_rate : 13 * corpus.sample_rate]
        x = torch.from_numpy(audio.copy())[None]
        for k, v in distances(reconstruct(vae, x), x).items():
            totals[k] += v / tracks
    return {k: round(v, 4) for k, v in totals.items()}


def seconds_per_step(checkpoints: list[Path]) -> float | None:
    """From the times the first and last checkpoints were written."""
    if len(checkpoints) < 2:
        return None
    first, last = checkpoints[0], checkpoints[-1]
    steps = int(last.name[5:]) - int(first.name[5:])
    return round((last.stat().st_mtime - first.stat().st_mtime) / steps, 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--work", type=Path, default=ROOT / "runs/bench/vae_candidates")
    parser.add_argument("--dataset", default=str(ROOT / "runs/pretrain/dataset"))
    parser.add_argument("--evaluate-only", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/vae_candidates.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not args.evaluate_only:
        if not (Path(args.dataset) / "dataset.parquet").exists():
            raise SystemExit(f"{args.dataset}: no dataset; make pretrain-small builds it (first two steps)")
        train(args.work, args.steps, args.dataset)
    results = {}
    for name, config in CANDIDATES.items():
        checkpoints = sorted((args.work / name / "checkpoints").glob("step-*"))
        results[name] = {
            "config": {k: config[k] for k in ("encoder_hidden_size", "channel_multiples", "decoder_channels")}
            | {"latent_dim": config["decoder_input_channels"]},
            "parameters": sum(p.numel() for p in build_vae(config, seed=None).parameters()),
            "seconds_per_step": seconds_per_step(checkpoints),
            "held_out": {int(c.name[5:]): evaluate(config, c) for c in checkpoints},
        }
        print(name, json.dumps(results[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {**metadata(), "steps": args.steps, "threads_per_run": 1, "candidates": results}
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

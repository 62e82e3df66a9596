"""Ablation: does lead-sheet distillation make the VAE's latents carry chords, melody and beats?

Fine-tuning runs of the tiny VAE on the demo dataset, identical in data, steps and seed: with the
distillation loss (lambda = 1, align, the default recipe), without it (lambda = 0), and optionally with
the opposite direction (predict); then `s2acc vae eval` on each EMA export: linear-probe accuracies on
the held-out split and the reconstruction distances.

With ``--pretrain-steps P`` the runs fine-tune, as the recipe does, instead of training from random
weights: a reconstruction-only run (lambda = 0) of P steps is trained once and exported, and every
run starts from that export with a fresh optimiser. The tiny VAE has no published weights, and an
encoder that has learnt to reconstruct already resolves the spectrum that chords live in.

Targets: the distilled VAE's chord-probe accuracy at least 10 points above the baseline's, and its
multi-resolution STFT distance within 10% of the baseline's. Each distilled run (align, predict) is
compared with the baseline on its own; ``met_by`` lists the runs that meet both targets.

    python benchmarks/vae_distill.py [--steps 300] [--distill 1.0] [--runs distilled,baseline,predict]
                                     [--pretrain-steps 0] [--reuse] [--train-only] [key=value ...]

Runs can train in separate processes (``--runs distilled --train-only`` beside ``--runs baseline
--train-only``) and be evaluated together afterwards with ``--reuse``.

The dataset is `make demo`'s (runs/demo/dataset); it is built first when missing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks._meta import metadata  # noqa: E402
from s2acc.config import load_config  # noqa: E402
from s2acc.vae.data import CropDataset, clips_from_dataset  # noqa: E402
from s2acc.vae.evaluate import evaluate_vae  # noqa: E402
from s2acc.vae.oobleck import load_vae  # noqa: E402
from s2acc.vae.train import VAETrainConfig, train_vae  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# name: (lambda, direction); "distilled" is the default recipe, "predict" the opposite direction
VARIANTS = {"distilled": (1.0, "align"), "baseline": (0.0, "align"), "predict": (1.0, "predict")}


def train_run(args: argparse.Namespace, name: str, record: dict, settings: list[str], reuse: bool):
    """Train run ``name`` under ``args.work`` with the demo config, ``settings`` and the command-line
    overrides, or, when ``reuse`` and its recorded setup equals ``record``, take its earlier export.
    Returns (export folder, training seconds, resumed)."""
    work = args.work / name
    timing = work / "train_seconds.json"
    done = json.loads(timing.read_text()) if timing.exists() else {}
    if reuse and {k: done.get(k) for k in record} == record:
        return work / "export", done["seconds"], done.get("resumed", False)
    cfg = load_config(
        VAETrainConfig,
        ROOT / "configs/vae/tiny.yaml",
        [
            f"out={work}",
            f"data.dataset={args.dataset}",
            "demo.every=0",
            "train.tracker=none",
            *settings,
            *args.overrides,
        ],
    )
    if not args.resume:
        shutil.rmtree(work, ignore_errors=True)  # a fresh run, never a resumed one
    start = time.perf_counter()
    export = train_vae(cfg, progress_bar=False)
    seconds = time.perf_counter() - start  # of this invocation only, when resumed
    timing.write_text(json.dumps({**record, "seconds": seconds, "resumed": args.resume}))
    return export, seconds, args.resume


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--dataset", type=Path, default=ROOT / "runs/demo/dataset")
    parser.add_argument("--work", type=Path, default=ROOT / "runs/bench/vae_distill")
    parser.add_argument("--probe-seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/vae_distill.json")
    parser.add_argument(
        "--reuse", action="store_true", help="evaluate finished runs again instead of retraining"
    )
    parser.add_argument("--runs", default="distilled,baseline", help="of " + ",".join(VARIANTS))
    parser.add_argument(
        "--distill", type=float, default=1.0, help="lambda of the distilled and predict runs (default 1)"
    )
    parser.add_argument(
        "overrides", nargs="*", help="config overrides for every run, e.g. loss.kl=1e-2 (key=value)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue unfinished runs from their last saved state instead of restarting them; with a "
        "schedule that does not depend on the step count (train.min_lr_ratio=1.0) --steps may be raised",
    )
    parser.add_argument(
        "--pretrain-steps",
        type=int,
        default=0,
        help="first train a reconstruction-only run of this many steps; every run fine-tunes its export",
    )
    parser.add_argument(
        "--train-only", action="store_true", help="train (or reuse) the runs, evaluate nothing"
    )
    args = parser.parse_args()
    if not (args.dataset / "dataset.parquet").exists():
        subprocess.run(["make", "demo", f"DEMO_DIR={args.dataset.parent}"], cwd=ROOT, check=True)

    train_clips = CropDataset(clips_from_dataset(args.dataset, "train"), args.probe_seconds, random=False)
    test_clips = CropDataset(clips_from_dataset(args.dataset, "val"), args.probe_seconds, random=False)
    names = args.runs.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"--runs: unknown run(s) {unknown}; choose from {list(VARIANTS)}")
    if not args.train_only and ("baseline" not in names or len(names) < 2):
        parser.error("--runs: the comparison needs the baseline and at least one distilled run")
    runs = {}
    init = []
    if args.pretrain_steps:  # the reconstruction-only run every arm fine-tunes, trained once
        record = {"steps": args.pretrain_steps, "overrides": args.overrides}
        settings = ["loss.distill=0", f"train.max_steps={args.pretrain_steps}"]
        init = [f"model.init={train_run(args, 'pretrain', record, settings, reuse=True)[0]}"]
    for name in names:
        distill, mode = VARIANTS[name]
        distill = distill and args.distill
        record = {
            "steps": args.steps,
            "distill": distill,
            "overrides": args.overrides,
            "pretrain_steps": args.pretrain_steps,
        }
        settings = [
            f"loss.distill={distill}",
            f"loss.distill_mode={mode}",
            f"train.max_steps={args.steps}",
            *init,
        ]
        export, seconds, resumed = train_run(args, name, record, settings, args.reuse)
        if args.train_only:
            continue
        runs[name] = {
            "distill": distill,
            "train_seconds": None if seconds is None else round(seconds, 1),
            "resumed": resumed,
            **evaluate_vae(load_vae(export), train_clips, test_clips),
        }
        print(name, json.dumps(runs[name]), flush=True)

    if args.train_only:
        return
    cfg = load_config(VAETrainConfig, ROOT / "configs/vae/tiny.yaml", args.overrides)  # what every run shares
    base = runs["baseline"]
    against_baseline = {}
    for name, run in runs.items():
        if name == "baseline":
            continue
        gain = {
            k: round(100 * (run["probes"][k]["accuracy"] - base["probes"][k]["accuracy"]), 2)
            for k in ("chord", "pitch_class", "beat")
        }
        ratio = run["reconstruction"]["mrstft"] / base["reconstruction"]["mrstft"]
        against_baseline[name] = {
            "mode": VARIANTS[name][1],
            "probe_gain_points": gain,
            "mrstft_ratio_to_baseline": round(ratio, 4),
            "met": bool(gain["chord"] >= 10 and ratio <= 1.10),
        }
    result = {
        **metadata(),
        "setup": {
            "config": "configs/vae/tiny.yaml",
            "dataset": str(
                args.dataset.relative_to(ROOT) if args.dataset.is_relative_to(ROOT) else args.dataset
            ),
            "steps": args.steps,
            "pretrain_steps": args.pretrain_steps,
            "distill": args.distill,
            "overrides": args.overrides,
            "crop_seconds": cfg.data.crop_seconds,
            "batch_size": cfg.train.batch_size,
            "probe_clip_seconds": args.probe_seconds,
            "probe_clips": {"train": len(train_clips), "test": len(test_clips)},
        },
        "runs": runs,
        "against_baseline": against_baseline,
        "targets": {"chord_probe_gain_points": ">= 10", "mrstft_ratio_to_baseline": "<= 1.10"},
        "met_by": [name for name, arm in against_baseline.items() if arm["met"]],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("against_baseline", "met_by")}, indent=1))


if __name__ == "__main__":
    main()

"""``s2acc train-vae`` and ``s2acc vae eval``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from s2acc import commandline


def _train(args: argparse.Namespace) -> int:
    """fine-tune the Oobleck VAE with lead-sheet distillation

    Fine-tune the Oobleck VAE on short crops of a graded dataset with multi-resolution STFT, KL,
    adversarial and lead-sheet distillation losses. Runs as one process or under `accelerate launch`;
    rerunning the same command resumes from the latest checkpoint. The EMA weights are exported to
    OUT/export (model.safetensors + config.json, diffusers layout).
    """
    from s2acc.vae.train import VAETrainConfig, train_vae

    folder = train_vae(commandline.config_from_args(VAETrainConfig, args), progress_bar=not args.quiet)
    if folder is not None and (folder / "model.safetensors").exists():
        print(f"exported the EMA VAE to {folder}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    """reconstruction metrics and latent probes on held-out clips

    Reconstruct the dataset's held-out (val) clips and report multi-resolution STFT distance, SI-SDR
    and mel L1; fit linear probes on frozen latents of the train split and report their chord, melody
    pitch-class and beat accuracies on the val split.
    """
    from s2acc.vae.data import CropDataset, clips_from_dataset
    from s2acc.vae.evaluate import evaluate_vae
    from s2acc.vae.oobleck import open_vae

    vae = open_vae(str(args.vae))
    train = clips_from_dataset(args.dataset, "train")
    test = clips_from_dataset(args.dataset, "val")
    if not test:
        raise commandline.CommandError(f"{args.dataset}: the val split is empty, nothing is held out")
    report = {
        "vae": str(args.vae),
        "dataset": str(args.dataset),
        "clip_seconds": args.seconds,
        **evaluate_vae(
            vae,
            CropDataset(train, args.seconds, random=False, hop=vae.hop_length),
            CropDataset(test, args.seconds, random=False, hop=vae.hop_length),
        ),
    }
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    t = commandline.add_command(sub, "train-vae", _train)
    commandline.add_config(t, "VAE config YAML (configs/vae/*.yaml)", out="run folder")
    commandline.add_quiet(t)
    commandline.add_overrides(t, "e.g. loss.distill=0 train.max_steps=200")
    vsub = commandline.add_group(sub, "vae", "VAE tools\n\nTools for trained VAEs.")
    e = commandline.add_command(vsub, "eval", _eval)
    e.add_argument("vae", help="an export folder, a registry name, or tiny/full (random weights)")
    e.add_argument("--dataset", type=Path, required=True, help="a finished `s2acc data run` folder")
    e.add_argument("--seconds", type=float, default=10.0, help="centre-crop length per clip (default 10)")
    e.add_argument("--out", type=Path, help="also write the JSON report here")

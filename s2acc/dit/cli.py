"""``s2acc train-dit``, ``s2acc generate`` and ``s2acc params``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from s2acc import commandline


def _train(args: argparse.Namespace) -> int:
    """train the latent DiT with flow matching (pretrain or sft stage)

    Train the latent DiT on a dataset's encoded segments with rectified flow. Runs as one process or
    under `accelerate launch`; rerunning resumes from the latest checkpoint. The EMA weights are
    exported to OUT/export with everything `s2acc generate` needs.
    """
    from s2acc.dit.train import DiTTrainConfig, train_dit

    folder = train_dit(commandline.config_from_args(DiTTrainConfig, args), progress_bar=not args.quiet)
    if (folder / "model.safetensors").exists():
        print(f"exported the EMA DiT to {folder}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    """generate 44.1 kHz clips for a prompts CSV

    One WAV per prompt (id,prompt CSV; other columns are kept in generations.csv), each with its own
    seed derived from --seed and the prompt id. Prompts longer than the text encoder's limit are
    truncated; empty prompts are allowed. Existing WAVs are kept, so a rerun resumes.
    """
    import torch

    from s2acc.dit.generate import Generator, generate_csv, read_prompts

    try:
        prompts = read_prompts(args.prompts)
    except ValueError as err:
        raise commandline.CommandError(str(err)) from None
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    generator = Generator.from_export(args.checkpoint, vae=args.vae, device=device)
    defaults = generator.meta.get("sampling", {})
    table = generate_csv(
        generator,
        prompts,
        args.out,
        seconds=args.seconds if args.seconds is not None else defaults.get("seconds", 10.0),
        batch_size=args.batch_size,
        seed=args.seed,
        progress=not args.quiet,
        steps=args.steps or defaults.get("steps", 32),
        cfg_scale=args.cfg if args.cfg is not None else defaults.get("cfg_scale", 4.0),
        method=args.sampler or defaults.get("method", "euler"),
        precision=args.precision or defaults.get("precision", "fp32"),
    )
    print(f"{len(table)} clips in {args.out}")
    return 0


def _params(args: argparse.Namespace) -> int:
    """parameter audit: core generative model vs auxiliary parts

    Count the DiT (the core, limited to 500M by the ATTM rules) and the frozen VAE and text encoder, on
    the meta device (nothing is allocated). Exit status 1 when the core is over.
    """
    from s2acc.dit.params import audit, format_audit
    from s2acc.dit.train import DiTTrainConfig

    report = audit(commandline.config_from_args(DiTTrainConfig, args))
    print(json.dumps(report, indent=1) if args.json else format_audit(report))
    return 0 if report["core_within_limit"] else 1


def register(sub: argparse._SubParsersAction) -> None:
    t = commandline.add_command(sub, "train-dit", _train)
    commandline.add_config(t, "DiT config YAML (configs/dit/*.yaml)", out="run folder")
    commandline.add_quiet(t)
    commandline.add_overrides(t, "e.g. train.max_steps=1000 stage.stage=sft")
    g = commandline.add_command(sub, "generate", _generate)
    g.add_argument("--checkpoint", type=Path, required=True, help="a DiT export folder")
    g.add_argument("--prompts", type=Path, required=True, help="CSV with id,prompt columns")
    g.add_argument("--out", type=Path, required=True, help="output folder for {id}.wav")
    g.add_argument("--seconds", type=float, help="clip length (default: the export's, 10 s)")
    g.add_argument("--steps", type=int, help="ODE steps (default 32)")
    g.add_argument("--cfg", type=float, help="classifier-free guidance scale (default 4)")
    g.add_argument("--sampler", choices=["euler", "heun"], help="ODE sampler (default euler)")
    g.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        help="bf16: autocast the DiT and the decoder (GPUs; default fp32)",
    )
    g.add_argument("--batch-size", type=int, default=16)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--vae", help="decode with this VAE instead of the export's")
    g.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    commandline.add_quiet(g)
    p = commandline.add_command(sub, "params", _params)
    commandline.add_config(p, "DiT config YAML")
    p.add_argument("--json", action="store_true", help="print JSON")
    commandline.add_overrides(p, "e.g. model.depth=12 model.width=768")

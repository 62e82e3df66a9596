"""``s2acc train-dit``, ``s2acc generate`` and ``s2acc params``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from s2acc.config import ConfigError, load_config


def _train(args: argparse.Namespace) -> int:
    from s2acc.dit.train import DiTTrainConfig, train_dit

    overrides = list(args.overrides) + ([f"out={args.out}"] if args.out else [])
    folder = train_dit(load_config(DiTTrainConfig, args.config, overrides), progress_bar=not args.quiet)
    if (folder / "model.safetensors").exists():
        print(f"exported the EMA DiT to {folder}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    import torch

    from s2acc.dit.generate import Generator, generate_csv, read_prompts

    try:
        prompts = read_prompts(args.prompts)
    except ValueError as err:
        raise ConfigError(str(err)) from None
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
    )
    print(f"{len(table)} clips in {args.out}")
    return 0


def _params(args: argparse.Namespace) -> int:
    from s2acc.dit.params import audit, format_audit
    from s2acc.dit.train import DiTTrainConfig

    report = audit(load_config(DiTTrainConfig, args.config, args.overrides))
    print(json.dumps(report, indent=1) if args.json else format_audit(report))
    return 0 if report["core_within_limit"] else 1


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "train-dit",
        help="train the latent DiT with flow matching (pretrain or sft stage)",
        description="Train the latent DiT on a dataset's encoded segments with rectified flow. Runs as one "
        "process or under `accelerate launch`; rerunning resumes from the latest checkpoint. The EMA "
        "weights are exported to OUT/export with everything `s2acc generate` needs.",
    )
    t.add_argument("--config", type=Path, required=True, help="DiT config YAML (configs/dit/*.yaml)")
    t.add_argument("--out", help="run folder (overrides the config's `out`)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument(
        "overrides", nargs="*", metavar="key=value", help="e.g. train.max_steps=1000 stage.stage=sft"
    )
    t.set_defaults(func=_train)

    g = sub.add_parser(
        "generate",
        help="generate 44.1 kHz clips for a prompts CSV",
        description="One WAV per prompt (id,prompt CSV; other columns are kept in generations.csv), each "
        "with its own seed derived from --seed and the prompt id. Prompts longer than the text encoder's "
        "limit are truncated; empty prompts are allowed. Existing WAVs are kept, so a rerun resumes.",
    )
    g.add_argument("--checkpoint", type=Path, required=True, help="a DiT export folder")
    g.add_argument("--prompts", type=Path, required=True, help="CSV with id,prompt columns")
    g.add_argument("--out", type=Path, required=True, help="output folder for {id}.wav")
    g.add_argument("--seconds", type=float, help="clip length (default: the export's, 10 s)")
    g.add_argument("--steps", type=int, help="ODE steps (default 32)")
    g.add_argument("--cfg", type=float, help="classifier-free guidance scale (default 4)")
    g.add_argument("--sampler", choices=["euler", "heun"], help="ODE sampler (default euler)")
    g.add_argument("--batch-size", type=int, default=16)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--vae", help="decode with this VAE instead of the export's")
    g.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(func=_generate)

    p = sub.add_parser(
        "params",
        help="parameter audit: core generative model vs auxiliary parts",
        description="Count the DiT (the core, limited to 500M by the ATTM rules) and the frozen VAE and "
        "text encoder, on the meta device (nothing is allocated). Exit status 1 when the core is over.",
    )
    p.add_argument("--config", type=Path, required=True, help="DiT config YAML")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(func=_params)

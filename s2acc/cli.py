"""The ``s2acc`` command.

    s2acc synth --config configs/synth/demo.yaml --out data/synth defects=0.25
    s2acc weights list | verify [NAME ...] | fetch NAME ... | fetch --all | bundle NAME EXPORT
    s2acc config show configs/synth/demo.yaml n_tracks=4
    s2acc train-vae --config configs/vae/tiny.yaml loss.distill=0
    s2acc vae eval runs/vae-demo/export --dataset runs/demo/dataset

Packages built on s2acc add subcommands through the ``s2acc.commands`` entry-point group: each entry
is a function ``register(subparsers)`` that adds its parser and sets ``func`` on it; ``s2acc.commandline``
has the pieces, so that they take a config and report a user's mistake as s2acc's own commands do.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path

from s2acc import commandline
from s2acc.audio import AudioError
from s2acc.config import ConfigError, config_hash, config_kinds, dump_config, load_config
from s2acc.hub import Registry, WeightsError, default_registry
from s2acc.train.preemption import PREEMPTED_EXIT, Preempted

COMMANDS_GROUP = "s2acc.commands"
USER_ERRORS = (commandline.CommandError, ConfigError, AudioError, WeightsError, FileNotFoundError)


# ---------------------------------------------------------------------------------------------- synth


def _synth(args: argparse.Namespace) -> int:
    """generate the embedded corpus of procedural instrumental music

    Render procedural instrumental tracks (drums, bass, chords, melody; varied timbres, tempi, keys and
    sections) in the MTG-Jamendo layout {out}/{NN}/{id}_instrumental.{ext}, with their ground truth
    (truth.parquet, truth/{id}.json) and reference captions (captions.json). Deterministic by seed;
    rerunning resumes and skips finished tracks.
    """
    from s2acc.synth.corpus import SynthConfig, generate_corpus

    defects = [] if args.defects is None else [f"defects={args.defects}"]
    cfg = commandline.config_from_args(SynthConfig, args, *defects)
    table = generate_corpus(cfg, args.out, progress=not args.quiet, workers=args.workers)
    damaged = int((table["defect"] != "").sum())
    print(
        f"wrote {len(table)} tracks ({damaged} damaged copies, {table['duration'].sum() / 60:.1f} min) "
        f"to {args.out}  [config {config_hash(cfg)}]"
    )
    return 0


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = commandline.add_command(sub, "synth", _synth)
    commandline.add_config(p, "synth config YAML (default: built-in defaults)", required=False)
    # Not the standard --out: the corpus root is an argument of generate_corpus, not a config field.
    p.add_argument("--out", type=Path, default=Path("data/synth"), help="corpus root (default: %(default)s)")
    p.add_argument(
        "--defects",
        type=float,
        metavar="FRACTION",
        help="also write damaged copies (clipping, noise, low-pass, silence, wrong caption) of this "
        "fraction of tracks, labelled in the table",
    )
    p.add_argument("--workers", type=int, help="parallel processes (default: one per CPU core)")
    commandline.add_quiet(p)
    commandline.add_overrides(p, "config overrides, e.g. n_tracks=4 seed=1")


# -------------------------------------------------------------------------------------------- weights


def _registry(args: argparse.Namespace) -> Registry:
    return Registry.load(args.registry) if args.registry else default_registry()


def _presence(reg: Registry, name: str) -> str:
    """Present or missing, without hashing (``--check`` hashes)."""
    return "present" if reg.path(name).exists() else "missing"


def _weights_list(args: argparse.Namespace) -> int:
    """every entry, whether it is present, and its source"""
    reg = _registry(args)
    rows = [
        {
            "name": e.name,
            "status": reg.status(e.name) if args.check else _presence(reg, e.name),
            "size_gb": round(e.size / 1e9, 2) if e.size else None,
            "sha256": bool(e.sha256 or e.checksums),
            "source": e.source,
            "path": str(reg.path(e.name)),
            "used_by": e.used_by,
        }
        for e in reg
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"weights cache: {reg.root}  (set $S2ACC_WEIGHTS to move it)")
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        size = f"{r['size_gb']:.2f} GB" if r["size_gb"] else "   ?    "
        print(f"  {r['name']:<{width}}  {r['status']:<10} {size:>9}  {r['source']}")
    return 0


def _weights_verify(args: argparse.Namespace) -> int:
    """check present files against their sha256; exit 1 on failure"""
    reg = _registry(args)
    names = args.names or [e.name for e in reg if reg.status(e.name) != "missing"]
    if not names:
        print(f"no weights present under {reg.root}; nothing to verify")
        return 0
    failed = 0
    for name in names:
        state = reg.status(name)
        failed += state in ("missing", "mismatch")
        print(f"{state:<10} {name}  {reg.path(name)}")
    return 1 if failed else 0


def _weights_fetch(args: argparse.Namespace) -> int:
    """download and verify (needs network; not with HF_HUB_OFFLINE=1)"""
    reg = _registry(args)
    names = [e.name for e in reg] if args.all else args.names
    if not names:
        raise WeightsError("name the weights to fetch, or pass --all")
    failed = 0
    for name in names:
        try:
            print(f"ok         {name}  {reg.fetch(name, force=args.force)}")
        except WeightsError as err:
            failed += 1
            print(f"failed     {name}: {err}", file=sys.stderr)
    return 1 if failed else 0


def _weights_bundle(args: argparse.Namespace) -> int:
    """ship a model the project trained: copy its export into the package and record its sha256

    For the models s2acc trains itself and commits (kind: bundled in the registry, e.g. small-vae):
    copies EXPORT's model.safetensors and config.json to the entry's folder under s2acc/pretrained/ and
    writes their sha256 into the registry file, ready to commit together.
    """
    reg = _registry(args)
    for file, digest in reg.bundle(args.name, args.export).items():
        print(f"{digest}  {reg.path(args.name) / file}")
    print(f"recorded in {reg.file}")
    return 0


def _add_weights(sub: argparse._SubParsersAction) -> None:
    """list, verify and fetch pretrained weights

    The weights registry: every pretrained file s2acc uses, its source, sha256 and local path under
    $S2ACC_WEIGHTS (default ~/.cache/s2acc/weights).
    """
    p = commandline.add_command(sub, "weights", doc=_add_weights.__doc__)
    p.add_argument("--registry", type=Path, help="a registry YAML to use instead of the bundled one")
    wsub = p.add_subparsers(dest="weights_command", required=True, metavar="{list,verify,fetch,bundle}")
    ls = commandline.add_command(wsub, "list", _weights_list)
    ls.add_argument("--check", action="store_true", help="verify checksums of present files (slow)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    vf = commandline.add_command(wsub, "verify", _weights_verify)
    vf.add_argument("names", nargs="*", help="entries to verify (default: all present)")
    bd = commandline.add_command(wsub, "bundle", _weights_bundle)
    bd.add_argument("name", help="a bundled entry (kind: bundled), e.g. small-vae")
    bd.add_argument("export", type=Path, help="the training export folder to ship under that name")
    ft = commandline.add_command(wsub, "fetch", _weights_fetch)
    ft.add_argument("names", nargs="*", help="entries to fetch")
    ft.add_argument("--all", action="store_true", help="fetch every entry (hundreds of GB)")
    ft.add_argument("--force", action="store_true", help="download again even if present")


# --------------------------------------------------------------------------------------------- config


def _config_show(args: argparse.Namespace) -> int:
    """print the resolved config with its hash"""
    cfg = load_config(None, args.path, args.overrides)
    sys.stdout.write(dump_config(cfg))
    return 0


def _config_kinds(args: argparse.Namespace) -> int:
    """list the registered config kinds"""
    for kind, target in sorted(config_kinds().items()):
        print(f"{kind:<12} {target}")
    return 0


def _add_config(sub: argparse._SubParsersAction) -> None:
    """show a resolved config and its hash

    Configs are YAML files with a 'kind'; overrides are key=value (dotted for sections).
    """
    csub = commandline.add_group(sub, "config", _add_config.__doc__, metavar="{show,kinds}")
    show = commandline.add_command(csub, "show", _config_show)
    show.add_argument("path", type=Path, help="config YAML")
    commandline.add_overrides(show, "config overrides, e.g. seed=9 or train.max_steps=100")
    commandline.add_command(csub, "kinds", _config_kinds)


# --------------------------------------------------------------------------------------------- doctor


def _doctor(args: argparse.Namespace) -> int:
    """check the installed environment (torch build, numpy, laion-clap)"""
    from s2acc.environment import check_environment

    checks = check_environment()
    for c in checks:
        print(f"{'ok  ' if c.ok else 'FAIL'}  {c.name:<24} {c.detail}")
    return 0 if all(c.ok for c in checks) else 1


def _add_doctor(sub: argparse._SubParsersAction) -> None:
    commandline.add_command(sub, "doctor", _doctor)


# ----------------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2acc",
        description="s2acc: graded-dataset pipeline, semantic-aware VAE, latent DiT and ATTM evaluation.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_synth(sub)
    _add_weights(sub)
    _add_config(sub)
    _add_doctor(sub)
    from s2acc.vae.cli import register as add_vae_commands

    add_vae_commands(sub)
    from s2acc.dit.cli import register as add_dit_commands

    add_dit_commands(sub)
    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        ep.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as err:
        print(f"s2acc {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Preempted as stopped:
        print(f"s2acc {args.command}: {stopped}", file=sys.stderr)
        return PREEMPTED_EXIT
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

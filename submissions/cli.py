"""``s2acc submit build | validate``: make and check submission packages (registered through
``s2acc.commands``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _validate(args: argparse.Namespace) -> int:
    from submissions.validate import validate

    try:
        report = validate(args.package, args.prompts, max_clipped=args.max_clipped)
    except (OSError, ValueError) as err:
        raise SystemExit(f"error: {err}") from err
    print(report)
    return 0 if report.ok else 1


def _build(args: argparse.Namespace) -> int:
    from s2acc.config import load_config
    from submissions.build import EntrySpec, InvalidPackageError, build

    spec = load_config(EntrySpec, args.entry, args.overrides)
    try:
        path = build(spec, args.prompts, progress=not args.quiet)
    except InvalidPackageError as err:
        print(err)
        return 1
    print(f"valid submission: {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "submit",
        help="build and validate challenge submission packages",
        description="Challenge submissions: a flat zip of {id}.wav, one per prompt, at 44.1 kHz.",
    )
    ssub = p.add_subparsers(dest="submit_command", required=True, metavar="COMMAND")
    v = ssub.add_parser(
        "validate",
        help="check a zip or folder against a prompts CSV",
        description="Report every problem of a package: missing, extra or duplicate ids, names that are "
        "not {id}.wav or leave the folder, sample rate, length under 10 s, NaN/inf, silence, clipping, "
        "files that are not WAV. Exit status 1 when anything is wrong.",
    )
    v.add_argument("package", type=Path, help="submission zip or folder")
    v.add_argument("--prompts", type=Path, required=True, help="the prompts CSV (id,prompt)")
    v.add_argument(
        "--max-clipped", type=float, default=0.001, help="largest share of clipped samples (default 0.001)"
    )
    v.set_defaults(func=_validate)
    b = ssub.add_parser(
        "build",
        help="generate, validate and zip a submission from an entry spec",
        description="One clip per prompt from the entry's DiT export with fixed per-prompt seeds, then "
        "validation, then a flat zip of {id}.wav plus manifest.json (prompt and checkpoint sha256, config "
        "hash, seeds, sampler, commit, parameter audit). Nothing is zipped when validation fails.",
    )
    b.add_argument("--entry", type=Path, required=True, help="entry spec (submissions/efficiency_track.yaml)")
    b.add_argument("--prompts", type=Path, required=True, help="the prompts CSV (id,prompt)")
    b.add_argument("--quiet", action="store_true")
    b.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. checkpoint=runs/dit-sft/export")
    b.set_defaults(func=_build)

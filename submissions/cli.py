"""``s2acc submit build | validate``: make and check submission packages (registered through
``s2acc.commands``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from s2acc import commandline


def _validate(args: argparse.Namespace) -> int:
    """check a zip or folder against a prompts CSV

    Report every problem of a package: missing, extra or duplicate ids, names that are not {id}.wav or
    leave the folder, sample rate, length under 10 s, NaN/inf, silence, clipping, files that are not
    WAV. Exit status 1 when anything is wrong.
    """
    from submissions.validate import validate

    try:
        report = validate(args.package, args.prompts, max_clipped=args.max_clipped)
    except (OSError, ValueError) as err:  # the prompts CSV; a bad package is a report, exit status 1
        raise commandline.CommandError(str(err)) from err
    print(report)
    return 0 if report.ok else 1


def _build(args: argparse.Namespace) -> int:
    """generate, validate and zip a submission from an entry spec

    One clip per prompt from the entry's DiT export with fixed per-prompt seeds, then validation, then a
    flat zip of {id}.wav plus manifest.json (prompt and checkpoint sha256, config hash, seeds, sampler,
    commit, parameter audit). Nothing is zipped when validation fails.
    """
    from submissions.build import EntrySpec, InvalidPackageError, build

    spec = commandline.config_from_args(EntrySpec, args)
    try:
        path = build(spec, args.prompts, progress=not args.quiet)
    except InvalidPackageError as err:
        print(err)
        return 1
    print(f"valid submission: {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """build and validate challenge submission packages

    Challenge submissions: a flat zip of {id}.wav, one per prompt, at 44.1 kHz.
    """
    ssub = commandline.add_group(sub, "submit", register.__doc__)
    v = commandline.add_command(ssub, "validate", _validate)
    v.add_argument("package", type=Path, help="submission zip or folder")
    v.add_argument("--prompts", type=Path, required=True, help="the prompts CSV (id,prompt)")
    v.add_argument(
        "--max-clipped", type=float, default=0.001, help="largest share of clipped samples (default 0.001)"
    )
    b = commandline.add_command(ssub, "build", _build)
    commandline.add_config(b, "entry spec (submissions/efficiency_track.yaml)", flag="--entry")
    b.add_argument("--prompts", type=Path, required=True, help="the prompts CSV (id,prompt)")
    commandline.add_quiet(b)
    commandline.add_overrides(b, "e.g. checkpoint=runs/dit-sft/export")

"""``s2acc submit validate``: check a submission package (registered through ``s2acc.commands``)."""

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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "submit",
        help="validate challenge submission packages",
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

"""``s2acc data run | report``: the dataset job's commands (registered through ``s2acc.commands``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from data_pipeline.config import STAGES, DataConfig
from s2acc import commandline
from s2acc.config import config_hash


def _run(args: argparse.Namespace) -> int:
    """run the pipeline stages"""  # its description lists STAGES, so register writes it
    from data_pipeline.pipeline import run_pipeline

    cfg = commandline.config_from_args(DataConfig, args)
    stages = [s.strip() for s in args.stages.split(",")] if args.stages else None
    if stages:
        bad = [s for s in stages if s not in STAGES]
        if bad:
            raise commandline.CommandError(f"--stages: unknown {bad}; the stages are {','.join(STAGES)}")
    out = run_pipeline(cfg, stages, progress=not args.quiet, retry_failed=args.retry_failed)
    import os

    if int(os.environ.get("RANK", "0")) == 0:
        import pandas as pd

        failures = pd.read_parquet(out / "failures.parquet")
        summary = f"dataset in {out} [config {config_hash(cfg)}]; {len(failures)} failed items"
        timings = json.loads((out / "timings.json").read_text()) if (out / "timings.json").exists() else {}
        if "files_seen" in timings.get("ingest", {}):
            seen, metadata = timings["ingest"]["files_seen"], timings["ingest"]["metadata_files"]
            ingested = len(pd.read_parquet(out / "ingest.parquet"))
            refused = int((failures["stage"] == "ingest").sum())
            summary += (
                f"; {seen} files under input.root: {ingested} tracks ingested, {refused} refused at ingest "
                f"(failures.parquet), {metadata} metadata"
            )
        if (out / "dataset.parquet").exists():
            ds = pd.read_parquet(out / "dataset.parquet")
            summary += f"; {int(ds['selected'].sum())} of {len(ds)} segments selected"
        print(summary)
    return 0


def _report(args: argparse.Namespace) -> int:
    """write report.md with plots for a dataset folder

    Summarise a dataset folder: segment durations, structure labels, caption lengths, grade
    distributions, the selection cut and failures by stage and reason.
    """
    from data_pipeline.report import write_report

    path = write_report(args.dataset)
    print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """regenerate the graded, segment-captioned dataset

    Separate, segment, extract lead sheets, caption, grade and select a corpus of audio. Runs as one
    process or under `accelerate launch --num_processes N`; rerunning resumes.
    """
    dsub = commandline.add_group(sub, "data", register.__doc__)
    r = commandline.add_command(
        dsub,
        "run",
        _run,
        description=f"Run the dataset stages ({', '.join(STAGES)}) in order. Every stage skips items "
        "already done under the same config, so a killed run resumes where it stopped; bad items go to "
        "failures.parquet with their stage and reason.",
    )
    commandline.add_config(r, "data config YAML (configs/data/*.yaml)", out="output folder")
    r.add_argument("--stages", help=f"comma-separated subset of {','.join(STAGES)} (default: the config's)")
    r.add_argument("--retry-failed", action="store_true", help="process again items that failed before")
    commandline.add_quiet(r, "no progress bars")
    commandline.add_overrides(r, "config overrides, e.g. select.fraction=0.1")
    rep = commandline.add_command(dsub, "report", _report)
    rep.add_argument("dataset", type=Path, help="the dataset folder (the run's `out`)")

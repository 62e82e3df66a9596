"""The dataset job: run the stages in order over a corpus, under one process or ``accelerate launch``.

Outputs in ``cfg.out``::

    config.yaml                  the resolved config and its hash
    ingest.parquet ... grade.parquet   each stage's merged table
    failures.parquet             every bad item: stage, item, reason
    leadsheets/{track}.npz       frame-level lead-sheet arrays
    dataset.parquet              every graded segment with scores, rank, selected, split
    train.parquet, val.parquet   the selected segments, split by track
    encode.parquet, latents/     with the encode stage: one safetensors shard of latents per track,
                                 and latents/stats.json (per-channel mean and std of the train split)
    work/                        resumable parts (and the stem cache unless stems are kept)
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from data_pipeline.config import STAGES, DataConfig
from data_pipeline.ingest import drop_duplicates, probe
from data_pipeline.runner import TIME_COLUMN, Context, StageRun, distributed_context, stage_hash, write_table
from data_pipeline.select import select
from data_pipeline.stages import TrackStages
from data_pipeline.tracks import scan
from s2acc.config import ConfigError, save_config
from s2acc.synth.corpus import corpus_metadata

TRACK_STAGES = ("separate", "leadsheet", "segment", "caption", "grade")
UPSTREAM = {
    "separate": "ingest",
    "leadsheet": "separate",
    "segment": "leadsheet",
    "caption": "segment",
    "grade": "caption",
}
ROW_KEY = {
    "ingest": "item",
    "separate": "track_id",
    "leadsheet": "track_id",
    "segment": "segment_id",
    "caption": "segment_id",
    "grade": "segment_id",
    "encode": "segment_id",
}


def stage_hashes(cfg: DataConfig) -> dict[str, str]:
    """Each stage's hash covers its own section and every stage before it."""
    hashes: dict[str, str] = {}
    previous = ""
    for stage in STAGES:
        section = asdict(cfg.input) if stage == "ingest" else asdict(getattr(cfg, stage))
        if stage == "caption":  # caption hints come from the input's tag and reference files
            section = {
                **section,
                "tags": [cfg.input.tags_tsv, cfg.input.tags_table, cfg.input.reference_captions],
            }
        if stage == "encode":
            # The VAE's weights change what is encoded; the selection does only when just the selected
            # segments are encoded.
            if cfg.encode.segments == "all":
                section.pop("segments")
                upstream = hashes["grade"]
            else:
                upstream = hashes["select"]
            hashes[stage] = stage_hash(stage, section, upstream, vae_fingerprint(cfg.encode.vae))
        else:
            hashes[stage] = previous = stage_hash(stage, section, previous)
    return hashes


def vae_fingerprint(spec: str) -> list:
    """Names, sizes and modification times of a VAE folder's files: a retrained export at the same
    path gets a new encode hash. A registry name stands with its recorded digests, so a re-bundled or
    re-pinned model gets one too."""
    folder = Path(spec)
    if not folder.is_dir():
        from s2acc.hub import default_registry

        entry = default_registry().entries.get(spec)
        return [spec] if entry is None else [spec, entry.sha256, sorted(entry.checksums.items())]
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    )


class Pipeline:
    def __init__(self, cfg: DataConfig, ctx: Context, retry_failed: bool = False):
        self.cfg, self.ctx, self.retry_failed = cfg, ctx, retry_failed
        self.out = ctx.out
        self.hashes = stage_hashes(cfg)
        self.tables: dict[str, pd.DataFrame] = {}
        self.timings: dict[str, dict] = {}

    def table_path(self, stage: str) -> Path:
        return self.out / f"{stage}.parquet"

    def _load(self, stage: str) -> pd.DataFrame:
        path = self.table_path(stage)
        if not path.exists():
            raise ConfigError(f"{path} is missing: run the '{stage}' stage first (--stages {stage},...)")
        return pd.read_parquet(path)

    def _run(self, stage: str, items: list[str], process, row_key: str) -> pd.DataFrame:
        start = time.perf_counter()
        run = StageRun(self.ctx, stage, self.hashes[stage], row_key=row_key, retry_failed=self.retry_failed)
        run.run(items, process, self.cfg.flush_every)
        self.ctx.barrier()
        if self.ctx.is_main:
            rows, failures = run.merge()
            if stage == "ingest":
                rows, duplicates = drop_duplicates(rows)
                failures = (
                    pd.concat([failures, duplicates], ignore_index=True) if len(duplicates) else failures
                )
            write_table(rows, self.table_path(stage))
            write_table(
                failures if len(failures) else pd.DataFrame(columns=["item", "stage", "reason"]),
                self.out / "work" / "failures" / f"{stage}.parquet",
            )
        self.ctx.barrier()
        self.timings[stage] = {"wall_seconds": round(time.perf_counter() - start, 3), "items": len(items)}
        return pd.read_parquet(self.table_path(stage))

    def run(self, stages: list[str]) -> None:
        unknown = [s for s in stages if s not in STAGES]
        if unknown:
            raise ConfigError(f"unknown stages {unknown}; the stages are {', '.join(STAGES)}")
        if self.ctx.is_main:
            save_config(self.cfg, self.out)
        steps = TrackStages(self.cfg, self.ctx, self.tables)
        for stage in STAGES:
            if stage not in stages:
                continue
            if stage == "ingest":
                root = Path(self.cfg.input.root)
                if not root.is_dir():
                    raise ConfigError(f"input.root {root} is not a folder")
                files = scan(root)
                base = root.resolve()
                named = [Path(m).resolve() for m in self.cfg.input.metadata_files()]
                metadata = set(files) & (
                    set(corpus_metadata(root))
                    | {p.relative_to(base).as_posix() for p in named if p.is_relative_to(base)}
                )
                self.tables["ingest"] = self._run(
                    "ingest", [f for f in files if f not in metadata], self._prober(root), "item"
                )
                self.timings["ingest"].update(files_seen=len(files), metadata_files=len(metadata))
            elif stage in TRACK_STAGES:
                for needed in (
                    "ingest",
                    UPSTREAM[stage],
                    "segment" if stage in ("caption", "grade") else None,
                ):
                    if needed and needed not in self.tables:
                        self.tables[needed] = self._load(needed)
                upstream = self.tables[UPSTREAM[stage]]
                # An upstream stage where every item failed leaves an empty table: nothing to do here.
                items = sorted(set(upstream["track_id"].astype(str))) if "track_id" in upstream else []
                self.tables[stage] = self._run(stage, items, getattr(steps, stage), ROW_KEY[stage])
            elif stage == "select" and self.ctx.is_main:
                start = time.perf_counter()
                self._select()
                self.timings["select"] = {"wall_seconds": round(time.perf_counter() - start, 3)}
            elif stage == "encode":
                self._encode(steps)
        self.ctx.barrier()
        if self.ctx.is_main:
            self._write_failures()
            path = self.out / "timings.json"
            (self.out / "timings.json").write_text(
                json.dumps(
                    {**(json.loads(path.read_text()) if path.exists() else {}), **self.timings}, indent=1
                )
            )
            if not self.cfg.separate.keep_stems and "select" in stages:
                steps.ws.drop_stems()

    def _prober(self, root: Path):
        return lambda rel: [probe(root, rel, self.cfg.input)]

    def _select(self) -> None:
        for needed in ("segment", "caption", "grade", "separate"):
            if needed not in self.tables and self.table_path(needed).exists():
                self.tables[needed] = self._load(needed)
        if "grade" not in self.tables:
            raise ConfigError(f"{self.table_path('grade')} is missing: run the 'grade' stage first")
        graded = (
            self.tables["grade"]
            .merge(
                self.tables["segment"].drop(columns=["item", TIME_COLUMN], errors="ignore"),
                on=["segment_id", "track_id"],
            )
            .merge(self.tables["caption"][["segment_id", "caption"]], on="segment_id")
        )
        sep = self.tables.get("separate")
        vocal = set(sep.loc[sep["has_vocals"], "track_id"]) if sep is not None and len(sep) else set()
        dataset = select(
            graded.drop(columns=["item", TIME_COLUMN], errors="ignore"),
            self.cfg.select,
            self.cfg.grade.weights,
            vocal,
        )
        write_table(dataset, self.out / "dataset.parquet")
        chosen = dataset[dataset["selected"]]
        write_table(chosen[chosen["split"] == "train"].reset_index(drop=True), self.out / "train.parquet")
        write_table(chosen[chosen["split"] == "val"].reset_index(drop=True), self.out / "val.parquet")

    def _encode(self, steps: TrackStages) -> None:
        from data_pipeline.encoding import latent_stats

        if not self.cfg.encode.vae:
            raise ConfigError(
                "encode.vae is empty: name the VAE to encode with (an export folder or registry name)"
            )
        vae_rate = self.cfg.input.sample_rate / steps.vae.hop_length
        if not math.isclose(vae_rate, self.cfg.leadsheet.frame_rate, rel_tol=1e-6):
            raise ConfigError(
                f"encode.vae {self.cfg.encode.vae!r} makes {vae_rate:.4f} latent frames/s, but the lead "
                f"sheets are written at leadsheet.frame_rate={self.cfg.leadsheet.frame_rate:.4f}: set it to "
                "the VAE's rate and rerun the leadsheet stage, or encode with a VAE of the lead sheets' rate"
            )
        self.ctx.barrier()  # select (main process only) writes dataset.parquet
        if "ingest" not in self.tables:
            self.tables["ingest"] = self._load("ingest")
        dataset = self._load("dataset")
        if self.cfg.encode.segments == "selected":
            dataset = dataset[dataset["selected"]]
        self.tables["dataset"] = dataset
        items = sorted(set(dataset["track_id"].astype(str)))
        self.tables["encode"] = self._run("encode", items, steps.encode, ROW_KEY["encode"])
        if self.ctx.is_main:
            stats = latent_stats(self.out, self.tables["encode"], self.tables["dataset"], self.cfg.encode.vae)
            (self.out / "latents" / "stats.json").write_text(json.dumps(stats, indent=1))

    def _write_failures(self) -> None:
        parts = [pd.read_parquet(p) for p in sorted((self.out / "work" / "failures").glob("*.parquet"))]
        parts = [p for p in parts if len(p)]
        order = {s: i for i, s in enumerate(STAGES)}
        table = (
            pd.concat(parts, ignore_index=True)
            if parts
            else pd.DataFrame(columns=["item", "stage", "reason"])
        )
        if len(table):
            table = table.assign(_o=table["stage"].map(order)).sort_values(["_o", "item"]).drop(columns="_o")
        write_table(table.reset_index(drop=True), self.out / "failures.parquet")


def run_pipeline(
    cfg: DataConfig, stages: list[str] | None = None, progress: bool = True, retry_failed: bool = False
) -> Path:
    """Run ``stages`` (default: those in the config) and return the output folder."""
    ctx = distributed_context(Path(cfg.out), progress=progress)
    Pipeline(cfg, ctx, retry_failed).run(stages or list(cfg.stages))
    return ctx.out

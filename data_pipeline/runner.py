"""The stage runner: idempotent, resumable, distributed table-to-table steps.

A stage maps input rows (one per item, keyed by a stable id) to output rows. The runner

- gives process ``r`` of ``n`` the items ``sorted(keys)[r::n]`` (one process, or ``accelerate launch``),
- skips items already recorded under the same stage hash (the hash of the stage's config and of the
  stages it reads), so a killed run resumes where it stopped,
- writes output rows and failures in small parts, each written to a temporary name and renamed,
  so a kill loses at most the part being filled and never leaves a torn file,
- records a bad item with its reason in the failures table and carries on,
- after every process finishes, merges the parts into ``{stage}.parquet`` sorted by key, so the table
  is the same whatever the number of processes or the order of work.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

TIME_COLUMN = "time_seconds"  # per-item wall time: the only column allowed to differ between runs


class ItemError(Exception):
    """A bad item: recorded in the failures table with this message, the run carries on."""


@dataclass
class Context:
    """Who this process is in a distributed run, and where the dataset lives."""

    out: Path
    rank: int = 0
    world: int = 1
    device: str = "cpu"
    progress: bool = True
    barrier: Callable[[], None] = lambda: None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def distributed_context(out: Path, progress: bool = True) -> Context:
    """The context of this process: plain single process, or one of ``accelerate launch``'s processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        return Context(out=out, device=device, progress=progress)
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    return Context(
        out=out,
        rank=state.process_index,
        world=state.num_processes,
        device=str(state.device),
        progress=progress and state.is_main_process,
        barrier=state.wait_for_everyone,
    )


def stage_hash(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write a parquet table atomically."""
    _write_parquet(frame, path)


def _read_parts(folder: Path) -> pd.DataFrame:
    parts = sorted(folder.glob("part-*.parquet")) if folder.exists() else []
    frames = [pd.read_parquet(p) for p in parts]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    # A part whose text column held only nulls reads back as object, the others as strings: give the
    # merged column one type, so the table does not depend on how items fell into parts.
    for col in table.columns:
        if table[col].dtype == object and table[col].map(lambda v: v is None or isinstance(v, str)).all():
            table[col] = table[col].astype("str")
    return table


class StageRun:
    """One stage over its items in this process; see the module docstring."""

    def __init__(
        self, ctx: Context, stage: str, digest: str, row_key: str = "item", retry_failed: bool = False
    ):
        self.ctx, self.stage, self.digest, self.row_key = ctx, stage, digest, row_key
        self.retry_failed = retry_failed
        self.folder = ctx.out / "work" / f"{stage}-{digest}"
        self.rows_dir, self.fail_dir = self.folder / "rows", self.folder / "failures"

    def done_keys(self) -> set[str]:
        done: set[str] = set()
        for folder in (self.rows_dir,) if self.retry_failed else (self.rows_dir, self.fail_dir):
            table = _read_parts(folder)
            if len(table):
                done.update(table["item"].astype(str))
        return done

    def run(self, items: list[str], process: Callable[[str], Iterable[dict]], flush_every: int = 8) -> None:
        """Apply ``process(item) -> rows`` to this process's share of the items not yet done."""
        mine = sorted(items)[self.ctx.rank :: self.ctx.world]
        done = self.done_keys()
        todo = [i for i in mine if i not in done]
        rows: list[dict] = []
        failures: list[dict] = []
        pending = 0
        bar = tqdm(
            total=len(mine),
            initial=len(mine) - len(todo),
            desc=self.stage,
            unit="item",
            disable=not self.ctx.progress,
            leave=False,
        )
        for item in todo:
            start = time.perf_counter()
            try:
                out = list(process(item))
                elapsed = time.perf_counter() - start
                if not out:
                    raise ItemError("produced no output")
                for row in out:
                    rows.append({"item": item, **row, TIME_COLUMN: elapsed / len(out)})
            except ItemError as exc:
                failures.append(self._failure(item, str(exc)))
            except Exception as exc:  # a bug or a backend crash on this item: record it, carry on
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                failures.append(self._failure(item, f"unexpected error: {detail}"))
            pending += 1
            bar.update()
            if pending >= flush_every:
                self._flush(rows, failures)
                rows, failures, pending = [], [], 0
        self._flush(rows, failures)
        bar.close()

    def _failure(self, item: str, reason: str) -> dict:
        return {"item": item, "stage": self.stage, "reason": reason}

    def _flush(self, rows: list[dict], failures: list[dict]) -> None:
        name = f"part-{self.ctx.rank:03d}-{time.time_ns():020d}.parquet"
        if rows:
            _write_parquet(pd.DataFrame(rows), self.rows_dir / name)
        if failures:
            _write_parquet(pd.DataFrame(failures), self.fail_dir / name)

    def merge(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """All processes' rows and failures, sorted so that the result is independent of scheduling."""
        rows = _read_parts(self.rows_dir)
        failures = _read_parts(self.fail_dir)
        if len(rows):
            rows = rows.drop_duplicates(self.row_key, keep="last")
            rows = rows.sort_values(self.row_key, kind="stable").reset_index(drop=True)
        if len(failures):
            failures = failures.drop_duplicates("item", keep="last")
            if len(rows):  # an item retried successfully is no longer a failure
                failures = failures[~failures["item"].isin(set(rows["item"]))]
            failures = failures.sort_values("item").reset_index(drop=True)
        return rows, failures

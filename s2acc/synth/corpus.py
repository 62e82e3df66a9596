"""The embedded corpus on disk: tracks in the MTG-Jamendo layout with their ground truth.

Layout under the corpus root::

    {NN}/{id}_instrumental.{ext}   audio, NN = id % 100 as two digits (as MTG-Jamendo stores it)
    truth/{id}.json                the full ground truth of one track (written last: it marks it done)
    truth.parquet                  one row per track, the truth's scalar and tag columns
    captions.json                  [{"path": "NN/ID.ext", "caption": ...}], the reference-caption format
    config.yaml                    the resolved config and its hash

Track ``i`` is rendered from a generator seeded by ``(seed, i)`` alone, so a corpus is the same
whatever the number of workers or the order of work, and a rerun skips finished tracks.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from s2acc.audio import write_audio
from s2acc.config import ConfigError, config_hash, read_yaml, save_config
from s2acc.rates import SAMPLE_RATE
from s2acc.synth.compose import compose
from s2acc.synth.defects import DEFECTS, damage
from s2acc.synth.render import render
from s2acc.synth.styles import STYLES
from s2acc.synth.truth import caption, truth_of

TRUTH_DIR = "truth"
TABLE = "truth.parquet"
CAPTIONS = "captions.json"


def corpus_metadata(root: str | Path) -> list[str]:
    """The paths (relative to ``root``) of the ground truth and config of every synthesised corpus at or
    under ``root``: a dataset job over such a corpus reads them as metadata, not audio."""
    import yaml

    root = Path(root)
    files: list[Path] = []
    for config_path in root.rglob("config.yaml"):
        try:
            config = yaml.safe_load(config_path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(config, dict) and config.get("kind") == "synth":
            corpus = config_path.parent
            files += [config_path, corpus / TABLE, corpus / CAPTIONS, *(corpus / TRUTH_DIR).glob("*.json")]
    return sorted(p.relative_to(root).as_posix() for p in files if p.is_file())


@dataclass
class SynthConfig:
    """How many tracks, how long, in which format, and which share of them to damage."""

    KIND: ClassVar[str] = "synth"

    seed: int = 0
    n_tracks: int = 8
    min_seconds: float = 10.0
    max_seconds: float = 120.0
    sample_rate: int = SAMPLE_RATE
    format: Literal["wav", "flac", "ogg", "mp3"] = "mp3"
    first_id: int = 9_000_000  # far above real MTG-Jamendo ids, so the two never collide
    defects: float = 0.0  # fraction of tracks that also get a damaged copy
    styles: list[str] = field(default_factory=list)  # empty: all styles

    def __post_init__(self) -> None:
        if self.n_tracks < 1:
            raise ConfigError(f"n_tracks must be >= 1, got {self.n_tracks}")
        if not 10.0 <= self.min_seconds <= self.max_seconds <= 600.0:
            raise ConfigError(
                f"need 10 <= min_seconds <= max_seconds <= 600, got {self.min_seconds}, {self.max_seconds}"
            )
        if not 0.0 <= self.defects <= 1.0:
            raise ConfigError(f"defects is a fraction in [0, 1], got {self.defects}")
        if self.sample_rate < 16000:
            raise ConfigError(f"sample_rate must be >= 16000, got {self.sample_rate}")
        unknown = sorted(set(self.styles) - set(STYLES))
        if unknown:
            raise ConfigError(f"unknown styles {unknown}; choose from {sorted(STYLES)}")


@dataclass
class Track:
    track_id: int
    audio: np.ndarray  # (2, N) float32
    truth: dict
    stems: dict[str, np.ndarray] | None = None


def track_path(track_id: int, ext: str) -> str:
    """Relative audio path in the MTG-Jamendo layout."""
    return f"{track_id % 100:02d}/{track_id}_instrumental.{ext}"


def caption_path(track_id: int, ext: str) -> str:
    """The path form the reference-caption files use: ``NN/ID.ext``."""
    return f"{track_id % 100:02d}/{track_id}.{ext}"


def _rng(cfg: SynthConfig, index: int, stream: int = 0) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, index, stream])


def _score(cfg: SynthConfig, index: int):
    rng = _rng(cfg, index)
    duration = round(float(rng.uniform(cfg.min_seconds, cfg.max_seconds)), 2)
    style = str(rng.choice(sorted(cfg.styles))) if cfg.styles else None
    return compose(rng, duration, style), rng


def generate_track(cfg: SynthConfig, index: int, stems: bool = False) -> Track:
    """Compose and render track ``index`` of the corpus (deterministic in ``(cfg.seed, index)``)."""
    score, rng = _score(cfg, index)
    text = caption(score, rng)
    loudness = float(rng.uniform(-18.0, -10.0))
    mix, parts = render(score, cfg.sample_rate, rng, loudness=loudness)
    track_id = cfg.first_id + index
    truth = {
        "track_id": track_id,
        "index": index,
        "seed": cfg.seed,
        "sample_rate": cfg.sample_rate,
        **truth_of(score, text),
        "loudness_target": round(loudness, 2),
        "defect": "",
        "defect_detail": {},
        "source_track_id": None,
    }
    return Track(track_id, mix, truth, parts if stems else None)


def defect_plan(cfg: SynthConfig) -> dict[int, tuple[int, str]]:
    """Track index -> (damaged copy id, defect kind); kinds cycle so each appears."""
    n = int(round(cfg.defects * cfg.n_tracks))
    chosen = sorted(np.random.default_rng([cfg.seed, 2**32 - 1]).choice(cfg.n_tracks, n, replace=False))
    return {
        int(i): (cfg.first_id + cfg.n_tracks + j, DEFECTS[j % len(DEFECTS)]) for j, i in enumerate(chosen)
    }


def damaged_copy(cfg: SynthConfig, track: Track, copy_id: int, kind: str) -> Track:
    """A damaged copy of ``track``; ``caption_mismatch`` borrows the caption of a track of another style."""
    rng = _rng(cfg, track.truth["index"], stream=1)
    audio, detail = damage(kind, track.audio, cfg.sample_rate, rng)
    truth = dict(
        track.truth, track_id=copy_id, defect=kind, defect_detail=detail, source_track_id=track.track_id
    )
    if kind == "caption_mismatch":
        for step in range(1, cfg.n_tracks + 50):
            donor = track.truth["index"] + step
            score, donor_rng = _score(cfg, donor)
            if score.style.name != track.truth["style"]:
                truth["caption"] = caption(score, donor_rng)
                detail.update(caption_from_style=score.style.name, caption_from_index=donor)
                break
    return Track(copy_id, audio, truth)


def _write(root: Path, cfg: SynthConfig, track: Track) -> dict:
    write_audio(root / track_path(track.track_id, cfg.format), track.audio, cfg.sample_rate)
    truth = dict(track.truth, path=track_path(track.track_id, cfg.format))
    path = root / TRUTH_DIR / f"{track.track_id}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(truth, indent=1))
    os.replace(tmp, path)
    return truth


def _done(root: Path, cfg: SynthConfig, track_id: int) -> bool:
    return (root / TRUTH_DIR / f"{track_id}.json").exists() and (
        root / track_path(track_id, cfg.format)
    ).exists()


def _make(cfg: SynthConfig, root: Path, index: int, copy: tuple[int, str] | None) -> int:
    """Render one track (and its damaged copy) unless already on disk; returns files written."""
    written = 0
    clean_id = cfg.first_id + index
    need_clean = not _done(root, cfg, clean_id)
    need_copy = copy is not None and not _done(root, cfg, copy[0])
    if not (need_clean or need_copy):
        return 0
    track = generate_track(cfg, index)
    if need_copy:
        _write(root, cfg, damaged_copy(cfg, track, *copy))
        written += 1
    if need_clean:
        _write(root, cfg, track)
        written += 1
    return written


def _check_same_config(root: Path, cfg: SynthConfig) -> None:
    saved = root / "config.yaml"
    if saved.exists():
        old = read_yaml(saved).get("hash")
        if old != config_hash(cfg):
            raise ConfigError(
                f"{root} already holds a corpus made with another config (hash {old}, now "
                f"{config_hash(cfg)}); choose another --out or delete it"
            )


def table_row(truth: dict) -> dict:
    return {
        "track_id": truth["track_id"],
        "path": truth["path"],
        "duration": truth["duration"],
        "sample_rate": truth["sample_rate"],
        "channels": 2,
        "style": truth["style"],
        "tempo": truth["tempo"],
        "meter": truth["meter"],
        "key": truth["key"],
        "genre": truth["tags"]["genre"],
        "instrument": truth["tags"]["instrument"],
        "mood": truth["tags"]["mood/theme"],
        "sections": "|".join(s["label"] for s in truth["sections"]),
        "caption": truth["caption"],
        "defect": truth["defect"],
        "source_track_id": truth["source_track_id"],
    }


def write_tables(root: Path, truths: list[dict], ext: str) -> pd.DataFrame:
    """truth.parquet and captions.json, written atomically."""
    table = pd.DataFrame([table_row(t) for t in sorted(truths, key=lambda t: t["track_id"])])
    table["source_track_id"] = table["source_track_id"].astype("Int64")
    tmp = root / f".{TABLE}.tmp"
    table.to_parquet(tmp, index=False)
    os.replace(tmp, root / TABLE)
    captions = [
        {"path": caption_path(int(r.track_id), ext), "caption": r.caption} for r in table.itertuples()
    ]
    tmp = root / f".{CAPTIONS}.tmp"
    tmp.write_text(json.dumps(captions, indent=1))
    os.replace(tmp, root / CAPTIONS)
    return pd.read_parquet(root / TABLE)  # exactly what later readers will see


def generate_corpus(
    cfg: SynthConfig, root: str | Path, progress: bool = True, workers: int | None = None
) -> pd.DataFrame:
    """Render every track not yet on disk, in parallel, then write the tables; returns truth.parquet's
    contents. ``workers`` defaults to the number of CPU cores."""
    root = Path(root)
    _check_same_config(root, cfg)
    (root / TRUTH_DIR).mkdir(parents=True, exist_ok=True)
    save_config(cfg, root)
    plan = defect_plan(cfg)
    todo = [
        i
        for i in range(cfg.n_tracks)
        if not _done(root, cfg, cfg.first_id + i) or (i in plan and not _done(root, cfg, plan[i][0]))
    ]
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    bar = tqdm(
        total=cfg.n_tracks, initial=cfg.n_tracks - len(todo), desc="synth", unit="track", disable=not progress
    )
    if workers == 1:
        for i in todo:
            _make(cfg, root, i, plan.get(i))
            bar.update()
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [pool.submit(_make, cfg, root, i, plan.get(i)) for i in todo]
            for future in as_completed(futures):
                future.result()
                bar.update()
    bar.close()
    ids = [cfg.first_id + i for i in range(cfg.n_tracks)] + [copy_id for copy_id, _ in plan.values()]
    truths = [json.loads((root / TRUTH_DIR / f"{i}.json").read_text()) for i in ids]
    return write_tables(root, truths, cfg.format)

"""Known track tags (genre, instrument, mood), from an MTG-Jamendo TSV or a table, as caption hints."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from data_pipeline.config import InputConfig
from s2acc.config import ConfigError

CATEGORY = {"genre": "genre", "instrument": "instrument", "mood/theme": "mood", "mood": "mood"}


def _listify(value) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    return [v.strip() for v in re.split(r"[|,]", str(value)) if v.strip()]


def read_mtg_tsv(path: str | Path) -> dict[str, dict[str, list[str]]]:
    """MTG-Jamendo TSV rows: TRACK_ID (``track_0001085700``), ARTIST_ID, ALBUM_ID, PATH, DURATION, then
    tags like ``genre---rock``, tab-separated. Keyed by the numeric track id as a string."""
    tags: dict[str, dict[str, list[str]]] = {}
    with open(path, encoding="utf-8") as f:
        header = f.readline()
        if not header.startswith("TRACK_ID"):
            raise ConfigError(f"{path}: not an MTG-Jamendo TSV (first column must be TRACK_ID)")
        for n, line in enumerate(f, start=2):
            fields = line.rstrip("\n").split("\t")
            match = re.search(r"(\d+)$", fields[0])
            if len(fields) < 6 or not match:
                raise ConfigError(f"{path}:{n}: malformed row (need TRACK_ID and five more columns)")
            entry: dict[str, list[str]] = {"genre": [], "instrument": [], "mood": []}
            for tag in fields[5:]:
                category, _, name = tag.partition("---")
                if category in CATEGORY and name:
                    entry[CATEGORY[category]].append(name)
            tags[str(int(match.group(1)))] = entry
    return tags


def read_tag_table(path: str | Path) -> dict[str, dict[str, list[str]]]:
    """A parquet or CSV table with ``track_id`` and any of genre / instrument / mood columns (lists, or
    strings separated by ``|`` or ``,``), such as the embedded corpus's ``truth.parquet``."""
    path = Path(path)
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if "track_id" not in table.columns:
        raise ConfigError(f"{path}: needs a track_id column")
    cols = [c for c in ("genre", "instrument", "mood") if c in table.columns]
    return {str(r["track_id"]): {c: _listify(r[c]) for c in cols} for _, r in table.iterrows()}


def load_tags(cfg: InputConfig, tracks: pd.DataFrame) -> dict[str, dict[str, list[str]]]:
    """Tags for the ingested tracks from every configured source (a table wins over the TSV)."""
    tags: dict[str, dict[str, list[str]]] = {}
    if cfg.tags_tsv:
        tags.update(read_mtg_tsv(cfg.tags_tsv))
    if cfg.tags_table:
        tags.update(read_tag_table(cfg.tags_table))
    known = set(tracks["track_id"].astype(str))
    return {k: v for k, v in tags.items() if k in known}

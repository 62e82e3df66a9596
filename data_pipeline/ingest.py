"""Stage 1, ingest: scan, probe, hash, decode-check, and drop exact duplicates.

The decode check streams each file block by block, so a three-hour recording costs one block of
memory; later stages read it a window at a time (:class:`data_pipeline.tracks.TrackAudio`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from data_pipeline.config import InputConfig
from data_pipeline.runner import ItemError
from data_pipeline.tracks import jamendo_layout, track_id_for
from s2acc.audio import AudioError, check_audio, info, read_blocks

SILENCE_PEAK = 1e-4  # a track whose peak is below this (-80 dBFS) carries no music
TRUNCATED_SHARE = 0.95  # decoding less than this share of the frames the header states means a cut file
BLOCK_SECONDS = 30.0  # decode-check block


def decoded_stats(path: Path, sr: int) -> dict:
    """Frames, peak, largest channel DC offset and peak once that offset is removed, from a full decode
    in blocks (a truncated file decodes fewer frames; NaN/inf samples raise :class:`AudioError`)."""
    frames, low, high, total = 0, None, None, None
    for block in read_blocks(path, max(1, int(BLOCK_SECONDS * sr))):
        check_audio(block, path)
        frames += block.shape[1]
        b_low, b_high, b_sum = block.min(axis=1), block.max(axis=1), block.sum(axis=1, dtype=np.float64)
        low = b_low if low is None else np.minimum(low, b_low)
        high = b_high if high is None else np.maximum(high, b_high)
        total = b_sum if total is None else total + b_sum
    if not frames:
        raise AudioError(path, "audio is empty (no samples)")
    offset = total / frames
    return {
        "frames": frames,
        "channels": len(offset),
        "peak": float(max(np.abs(low).max(), np.abs(high).max())),
        "dc": float(np.abs(offset).max()),
        "audible": float(np.maximum(high - offset, offset - low).max()),
    }


def sha256_of(path: Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def probe(root: Path, relpath: str, cfg: InputConfig) -> dict:
    """One row for a good file; :class:`ItemError` naming the reason for a bad one."""
    path = root / relpath
    if path.is_symlink() and not path.exists():
        raise ItemError(f"{relpath}: broken symbolic link")
    if path.is_dir():
        raise ItemError(f"{relpath}: is a directory, not an audio file")
    if not path.is_file():
        raise ItemError(f"{relpath}: not a regular file")
    if path.suffix.lower() not in {e.lower() for e in cfg.extensions}:
        raise ItemError(
            f"{relpath}: unsupported format {path.suffix or '(no extension)'!r}; "
            f"input.extensions reads {', '.join(cfg.extensions)}"
        )
    if cfg.layout == "jamendo" and not jamendo_layout(relpath):
        raise ItemError(
            f"{relpath}: name outside the MTG-Jamendo layout: expected NN/<track id>_instrumental.<ext> "
            "(e.g. 00/1085700_instrumental.mp3); set input.layout=any to take any name"
        )
    size = path.stat().st_size
    if size == 0:
        raise ItemError(f"{relpath}: empty file (0 bytes)")
    try:
        head = info(path)
        if head.channels > cfg.max_channels:
            raise ItemError(f"{relpath}: {head.channels} channels; at most {cfg.max_channels} accepted")
        if head.sample_rate < cfg.min_sample_rate:
            raise ItemError(
                f"{relpath}: sample rate {head.sample_rate} Hz is below the minimum {cfg.min_sample_rate} Hz"
            )
        if head.duration > cfg.max_seconds:
            raise ItemError(
                f"{relpath}: {head.duration:.0f} s is longer than the maximum {cfg.max_seconds:.0f} s"
            )
        stats = decoded_stats(path, head.sample_rate)
    except AudioError as exc:
        raise ItemError(str(exc)) from exc
    sr = head.sample_rate
    if head.frames > 0 and stats["frames"] < TRUNCATED_SHARE * head.frames:
        raise ItemError(
            f"{relpath}: truncated: decoded {stats['frames'] / sr:.2f} s of the "
            f"{head.duration:.2f} s its header states"
        )
    duration = stats["frames"] / sr
    if duration < cfg.min_seconds:
        raise ItemError(f"{relpath}: {duration:.2f} s is shorter than the minimum {cfg.min_seconds:.1f} s")
    peak = stats["peak"]
    if stats["audible"] < SILENCE_PEAK:
        reason = (
            f"silent (peak {peak:.2e})"
            if stats["dc"] < SILENCE_PEAK
            else f"no audible content once its DC offset ({stats['dc']:.3f}) is removed "
            f"(peak {stats['audible']:.2e})"
        )
        raise ItemError(f"{relpath}: {reason}")
    return {
        "track_id": track_id_for(relpath),
        "path": str(path.resolve()),
        "relpath": relpath,
        "sha256": sha256_of(path),
        "bytes": size,
        "format": path.suffix.lower().lstrip("."),
        "duration": round(duration, 4),
        "frames": int(stats["frames"]),
        "sample_rate": sr,
        "channels": int(stats["channels"]),
        "peak": round(peak, 6),
    }


def drop_duplicates(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the first file (by relative path) of each content hash and of each track id; the others
    become failures naming the file they duplicate."""
    if not len(rows):
        return rows, pd.DataFrame(columns=["item", "stage", "reason"])
    rows = rows.sort_values("relpath", kind="stable")
    first_by_hash = rows.drop_duplicates("sha256").set_index("sha256")["relpath"]
    dup_content = rows.duplicated("sha256")
    dup_id = ~dup_content & rows.duplicated("track_id")
    first_by_id = rows[~dup_content].drop_duplicates("track_id").set_index("track_id")["relpath"]
    failures = [
        {
            "item": r.item,
            "stage": "ingest",
            "reason": f"{r.relpath}: exact duplicate of {first_by_hash[r.sha256]}",
        }
        for r in rows[dup_content].itertuples()
    ] + [
        {
            "item": r.item,
            "stage": "ingest",
            "reason": f"{r.relpath}: track id {r.track_id} already used by {first_by_id[r.track_id]}",
        }
        for r in rows[dup_id].itertuples()
    ]
    kept = rows[~dup_content & ~dup_id].sort_values("track_id").reset_index(drop=True)
    return kept, pd.DataFrame(failures, columns=["item", "stage", "reason"])

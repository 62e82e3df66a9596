"""Finding tracks, naming them, and loading their audio the same way in every stage."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from s2acc.audio import AUDIO_SUFFIXES, AudioError, read_audio, resample, to_stereo

JAMENDO_NAME = re.compile(r"^(\d+)(?:_instrumental)?$")


def track_id_for(relpath: str) -> str:
    """MTG-Jamendo files (``NN/1085700_instrumental.mp3``) are known by their numeric id; any other
    file by its path relative to the input root."""
    stem = Path(relpath).stem
    match = JAMENDO_NAME.match(stem)
    return match.group(1) if match else relpath


def safe_name(track_id: str) -> str:
    """A file-system-safe, collision-free name for per-track files."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", track_id)
    if clean == track_id:
        return clean
    return f"{clean[:80]}-{hashlib.sha1(track_id.encode()).hexdigest()[:8]}"


def scan(root: Path) -> list[str]:
    """Relative paths of every file under ``root`` (and of every folder named like audio), sorted.
    Nothing is filtered by name here: ingest refuses what it cannot use, with the reason, so no file
    goes unaccounted for."""
    found = [
        p for p in root.rglob("*") if p.is_file() or p.is_symlink() or p.suffix.lower() in AUDIO_SUFFIXES
    ]
    return sorted(p.relative_to(root).as_posix() for p in found)


def jamendo_layout(relpath: str) -> bool:
    """Whether a path follows MTG-Jamendo's ``{NN}/{id}_instrumental.{ext}`` (or ``{NN}/{id}.{ext}``)."""
    parts = Path(relpath).parts
    return (
        len(parts) == 2
        and re.fullmatch(r"\d\d", parts[0]) is not None
        and JAMENDO_NAME.match(Path(relpath).stem) is not None
    )


def load_track(path: str | Path, sr: int) -> np.ndarray:
    """Stereo float32 at ``sr``: mono is duplicated, other rates are resampled."""
    audio, rate = read_audio(path)
    if audio.shape[0] > 2:
        raise AudioError(path, f"{audio.shape[0]} channels; expected mono or stereo")
    if rate != sr:
        audio = resample(audio, rate, sr)
    return to_stereo(audio).astype(np.float32)

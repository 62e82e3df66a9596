"""Finding tracks, naming them, and loading their audio the same way in every stage."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import numpy as np

from s2acc.audio import (
    AUDIO_SUFFIXES,
    AudioError,
    check_audio,
    info,
    read_audio,
    read_frames,
    resample,
    to_stereo,
)

RESAMPLE_CONTEXT = 0.1  # seconds read either side of a resampled span: beyond soxr's filter reach
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


class TrackAudio:
    """One track's audio at the pipeline's rate (stereo float32), read a span at a time.

    The stages work through long recordings in windows, so none holds a whole hour of audio: a span
    is decoded on its own (soundfile seeks exactly, mp3 included) and, when the file has another rate,
    resampled with enough context either side that it equals the same span of the whole file
    resampled at once, to float precision. ``frames`` is the decoded length at the file's own rate
    (the ingest table records it); without it the header's count is used.
    """

    def __init__(self, path: str | Path, sr: int, frames: int | None = None):
        head = info(path)
        if head.channels > 2:
            raise AudioError(path, f"{head.channels} channels; expected mono or stereo")
        self.path, self.sr, self.native = Path(path), int(sr), head.sample_rate
        self.frames = int(frames) if frames is not None else head.frames
        self.n = self.frames if self.native == self.sr else int(round(self.frames * self.sr / self.native))

    @property
    def duration(self) -> float:
        return self.n / self.sr

    def _native(self, start: int, stop: int) -> np.ndarray:
        audio, _ = read_frames(self.path, start, stop)
        return check_audio(audio, self.path) if stop > start else audio

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples ``[start, stop)`` at the pipeline's rate, stereo; the end is clipped to the track."""
        stop = self.n if stop is None else min(int(stop), self.n)
        start = max(0, min(int(start), stop))
        if self.native == self.sr:
            audio = self._native(start, stop)
        else:
            # Begin on a sample shared by both rates' grids, so the resampled span lines up exactly.
            step = self.native // math.gcd(self.native, self.sr)
            context = int(math.ceil(RESAMPLE_CONTEXT * self.native))
            lo = max(0, (start * self.native // self.sr - context) // step * step)
            hi = min(self.frames, int(math.ceil(stop * self.native / self.sr)) + context)
            audio = resample(self._native(lo, hi), self.native, self.sr)
            offset = lo * self.sr // self.native
            audio = audio[:, start - offset : stop - offset]
        return to_stereo(audio).astype(np.float32, copy=False)

    def seconds(self, start: float, end: float) -> np.ndarray:
        """The span ``[start, end)`` in seconds, on the same sample grid as a slice of the whole."""
        return self.read(int(round(start * self.sr)), int(round(end * self.sr)))

"""The lead sheet of one track: symbolic events in seconds plus the same facts as frame arrays.

The frame arrays sit on the grid the VAE latents use (44100 / 2048 Hz by default), so a training
target is an array slice, never a re-analysis. Events (beats, chords) stay in seconds so the sheet is
usable at any other rate too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from s2acc.synth.theory import PITCH_CLASSES

# Chord classes: 0-11 major on C..B, 12-23 minor on C..B, 24 no chord (mir_eval's "N").
CHORD_LABELS = tuple(f"{p}:maj" for p in PITCH_CLASSES) + tuple(f"{p}:min" for p in PITCH_CLASSES) + ("N",)
NO_CHORD = 24
FRAME_ARRAYS = ("beat", "downbeat", "onset", "chord", "chroma", "f0", "voicing", "pitch_class")


def chord_index(label: str) -> int:
    """Index in :data:`CHORD_LABELS`; raises ValueError for labels outside the 25 classes."""
    try:
        return CHORD_LABELS.index(label)
    except ValueError:
        raise ValueError(f"not one of the 25 major/minor/N chord labels: {label!r}") from None


def frame_times(n_frames: int, frame_rate: float) -> np.ndarray:
    """Centre time of each frame: frame i covers [i, i+1) / frame_rate."""
    return (np.arange(n_frames) + 0.5) / frame_rate


def event_frames(times: np.ndarray, n_frames: int, frame_rate: float) -> np.ndarray:
    """A 0/1 array with a 1 in the frame holding each event time."""
    out = np.zeros(n_frames, np.float32)
    idx = np.floor(np.asarray(times, float) * frame_rate).astype(int)
    out[idx[(idx >= 0) & (idx < n_frames)]] = 1.0
    return out


def interval_frames(
    intervals: list[tuple[float, float, str]], n_frames: int, frame_rate: float
) -> np.ndarray:
    """Chord class per frame from (start, end, label) intervals; frames outside every interval are N."""
    out = np.full(n_frames, NO_CHORD, np.int16)
    t = frame_times(n_frames, frame_rate)
    for start, end, label in intervals:
        out[(t >= start) & (t < end)] = chord_index(label)
    return out


@dataclass
class LeadSheet:
    frame_rate: float
    n_frames: int
    tempo: float  # BPM, 0 when no pulse was found
    beats: np.ndarray  # seconds
    downbeats: np.ndarray  # seconds
    key: str | None  # "A minor"
    chords: list[tuple[float, float, str]]  # (start, end, label), labels from CHORD_LABELS
    beat: np.ndarray  # (n_frames,) float32, 1 on frames holding a beat
    downbeat: np.ndarray  # (n_frames,) float32
    onset: np.ndarray  # (n_frames,) float32 onset strength in [0, 1]
    chord: np.ndarray  # (n_frames,) int16 chord class
    chroma: np.ndarray  # (n_frames, 12) float32, each frame max-normalised
    f0: np.ndarray  # (n_frames,) float32 melody pitch in Hz, 0 where unvoiced
    voicing: np.ndarray  # (n_frames,) float32 in [0, 1]
    pitch_class: np.ndarray  # (n_frames,) int8 melody pitch class, -1 where unvoiced
    backend: dict = field(default_factory=dict)  # which method produced each part

    def __post_init__(self) -> None:
        for name in FRAME_ARRAYS:
            arr = getattr(self, name)
            if len(arr) != self.n_frames:
                raise ValueError(f"lead sheet array {name!r} has {len(arr)} frames, expected {self.n_frames}")

    @property
    def duration(self) -> float:
        return self.n_frames / self.frame_rate

    def save(self, path: str | Path) -> None:
        """One compressed .npz; the non-array fields travel as a JSON string."""
        meta = {
            "frame_rate": self.frame_rate,
            "n_frames": self.n_frames,
            "tempo": self.tempo,
            "key": self.key,
            "chords": [[float(s), float(e), lab] for s, e, lab in self.chords],
            "backend": self.backend,
        }
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(
            tmp,
            meta=np.array(json.dumps(meta)),
            beats=np.asarray(self.beats, float),
            downbeats=np.asarray(self.downbeats, float),
            **{name: getattr(self, name) for name in FRAME_ARRAYS},
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> LeadSheet:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {name: data[name] for name in ("beats", "downbeats", *FRAME_ARRAYS)}
        meta["chords"] = [(float(s), float(e), lab) for s, e, lab in meta["chords"]]
        return cls(**meta, **arrays)

    def summary(self) -> dict:
        voiced = self.voicing > 0.5
        return {
            "duration": round(self.duration, 3),
            "tempo": round(float(self.tempo), 2),
            "key": self.key,
            "n_beats": int(len(self.beats)),
            "n_downbeats": int(len(self.downbeats)),
            "n_chords": len(self.chords),
            "distinct_chords": sorted({lab for _, _, lab in self.chords}),
            "voiced_fraction": round(float(voiced.mean()) if self.n_frames else 0.0, 3),
            "backend": self.backend,
        }

"""Beats, downbeats and tempo.

Pretrained path (madmom's shipped models): the joint beat/downbeat BLSTM ensemble of Böck et al.
(ISMIR 2016) gives beat and downbeat activations at 100 fps; madmom's dynamic Bayesian network beat
tracker decodes the beats; meter (3 or 4 beats per bar) and bar phase are chosen where the network's
downbeat activation is highest. madmom's own joint bar DBN models every (meter, phase, tempo) state,
several times the beat DBN's work for the same beats; ``downbeat_dbn=True`` selects it.

Fallback (librosa): onset-strength beat tracking, and the bar phase where chroma changes and
low-frequency onsets concentrate (harmony and kick/bass tend to move on the downbeat).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import librosa
import numpy as np

from s2acc.leadsheet._madmom import import_madmom, model_files

FPS = 100
METERS = (3, 4)


@dataclass
class BeatResult:
    beats: np.ndarray  # seconds
    downbeats: np.ndarray  # seconds
    tempo: float  # BPM, 0 when no beats
    beats_per_bar: int
    beat_act: np.ndarray  # (frames,) at ``fps``, in [0, 1]
    downbeat_act: np.ndarray
    onset: np.ndarray  # onset strength at ``fps``, >= 0
    fps: float
    method: str


def rnn_features(x: np.ndarray) -> np.ndarray:
    """The downbeat network's input at 100 fps: three log-filtered spectrograms and their positive
    differences (frame sizes 1024/2048/4096 with 3/6/12 bands per octave, 30 Hz-17 kHz)."""
    from s2acc.leadsheet.spectral import madmom_spectrogram

    return np.hstack(
        [
            madmom_spectrogram(x, size, FPS, bands, 30, 17000, diff=True)
            for size, bands in ((1024, 3), (2048, 6), (4096, 12))
        ]
    )


@functools.cache
def downbeat_network(n_networks: int = 8):
    """The first ``n_networks`` of madmom's 8 downbeat BLSTMs (all 8 is madmom's default)."""
    from s2acc.leadsheet.nets import BLSTMEnsemble

    files = model_files("DOWNBEATS_BLSTM")
    if not 1 <= n_networks <= len(files):
        raise ValueError(f"n_networks must be in 1..{len(files)}, got {n_networks}")
    return BLSTMEnsemble.from_files(files[:n_networks])


@functools.cache
def _beat_dbn(min_bpm: float, max_bpm: float):
    import_madmom()
    from madmom.features.beats import DBNBeatTrackingProcessor

    return DBNBeatTrackingProcessor(min_bpm=min_bpm, max_bpm=max_bpm, fps=FPS, threshold=0.05)


@functools.cache
def _bar_dbn(min_bpm: float, max_bpm: float):
    import_madmom()
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor

    return DBNDownBeatTrackingProcessor(beats_per_bar=list(METERS), min_bpm=min_bpm, max_bpm=max_bpm, fps=FPS)


def _tempo(beats: np.ndarray) -> float:
    return float(60.0 / np.median(np.diff(beats))) if len(beats) > 1 else 0.0


def _peak_at(act: np.ndarray, times: np.ndarray, fps: float, radius: int = 2) -> np.ndarray:
    """Largest activation within ``radius`` frames of each time."""
    idx = np.clip(np.round(times * fps).astype(int), 0, len(act) - 1)
    padded = np.pad(act, radius)
    return np.max(np.stack([padded[idx + k] for k in range(2 * radius + 1)]), axis=0)


def choose_bar(strength: np.ndarray, meters: tuple[int, ...] = METERS) -> tuple[int, int]:
    """(beats_per_bar, phase) whose beats ``phase::beats_per_bar`` stand out most from the other beats.

    ``strength`` is a per-beat downbeat salience. The contrast (mean on the chosen beats minus mean on
    the rest) is compared across meters; with fewer than two bars' worth of beats, 4/4 phase 0.
    """
    best, choice = -np.inf, (4, 0)
    for bpb in meters:
        if len(strength) < 2 * bpb:
            continue
        for phase in range(bpb):
            on = np.zeros(len(strength), bool)
            on[phase::bpb] = True
            score = strength[on].mean() - strength[~on].mean()
            if score > best + 1e-9:
                best, choice = score, (bpb, phase)
    return choice


def track_madmom(
    x: np.ndarray,
    n_networks: int = 8,
    downbeat_dbn: bool = False,
    min_bpm: float = 55.0,
    max_bpm: float = 215.0,
) -> BeatResult:
    """``x``: mono float32 at 44.1 kHz."""
    features = rnn_features(x)
    act = downbeat_network(n_networks)(features)[:, 1:]  # drop the no-beat class: (beat, downbeat)
    beat_act = np.clip(act.sum(axis=1), 0.0, 1.0)
    onset = _flux(features)
    if downbeat_dbn:
        out = _bar_dbn(min_bpm, max_bpm)(act)
        beats = out[:, 0] if len(out) else np.zeros(0)
        bpb = int(out[:, 1].max()) if len(out) else 4
        downbeats = out[out[:, 1] == 1, 0] if len(out) else np.zeros(0)
        method = "madmom-blstm+bar-dbn"
    else:
        beats = np.asarray(_beat_dbn(min_bpm, max_bpm)(beat_act), float)
        bpb, phase = choose_bar(_peak_at(act[:, 1], beats, FPS))
        downbeats = beats[phase::bpb]
        method = "madmom-blstm+beat-dbn"
    return BeatResult(
        beats=np.asarray(beats, float),
        downbeats=np.asarray(downbeats, float),
        tempo=_tempo(beats),
        beats_per_bar=bpb,
        beat_act=beat_act.astype(np.float32),
        downbeat_act=act[:, 1].astype(np.float32),
        onset=onset,
        fps=FPS,
        method=method + (f"x{n_networks}" if n_networks != 8 else ""),
    )


def _flux(features: np.ndarray) -> np.ndarray:
    """Onset strength: the summed positive spectral differences of the three spectrograms."""
    widths = (21, 45, 91)  # bands of the 1024/2048/4096 spectrograms; each is followed by its diff
    total, start = np.zeros(len(features), np.float32), 0
    for w in widths:
        total += features[:, start + w : start + 2 * w].sum(axis=1)
        start += 2 * w
    return total


def track_librosa(y: np.ndarray, sr: int, chroma: np.ndarray | None = None) -> BeatResult:
    """``y``: mono audio at ``sr``. ``chroma``: optional (12, frames) chroma at hop 512 for bar phase."""
    hop = 512
    fps = sr / hop
    mel = librosa.feature.melspectrogram(y=y, sr=sr, hop_length=hop, n_fft=2048, n_mels=64)
    db = librosa.power_to_db(mel, ref=np.max)
    onset = librosa.onset.onset_strength(S=db, sr=sr, hop_length=hop)
    low = librosa.onset.onset_strength(S=db[:8], sr=sr, hop_length=hop)  # below ~250 Hz: kick, bass
    _, frames = librosa.beat.beat_track(
        onset_envelope=onset, sr=sr, hop_length=hop, units="frames", trim=False
    )
    beats = librosa.frames_to_time(frames, sr=sr, hop_length=hop)
    bpb, phase = 4, 0
    if len(frames) >= 2 * max(METERS):
        strength = _zscore(_peak_at(low, beats, fps))
        if chroma is not None:
            sync = librosa.util.sync(chroma, frames, aggregate=np.median)[:, : len(frames)]
            change = np.r_[0.0, np.linalg.norm(np.diff(sync, axis=1), axis=0)]
            strength = strength + _zscore(change)
        bpb, phase = choose_bar(strength)
    peak = onset.max() if onset.size and onset.max() > 0 else 1.0
    beat_ind = np.zeros(len(onset), np.float32)
    beat_ind[frames[frames < len(onset)]] = 1.0
    return BeatResult(
        beats=beats,
        downbeats=beats[phase::bpb],
        tempo=_tempo(beats),
        beats_per_bar=bpb,
        beat_act=beat_ind,
        downbeat_act=np.zeros(len(onset), np.float32),
        onset=(onset / peak).astype(np.float32),
        fps=fps,
        method="librosa-beat-track+bar-phase",
    )


def _zscore(v: np.ndarray) -> np.ndarray:
    s = v.std()
    return (v - v.mean()) / s if s > 0 else np.zeros_like(v)

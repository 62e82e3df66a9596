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
    strength: np.ndarray | None = None  # per-beat downbeat salience the bar was chosen on (None: a bar DBN)


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


def tempo_of(beats: np.ndarray) -> float:
    """BPM from the median inter-beat interval; 0 without two beats."""
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
    strength = None
    if downbeat_dbn:
        out = _bar_dbn(min_bpm, max_bpm)(act)
        beats = out[:, 0] if len(out) else np.zeros(0)
        bpb = int(out[:, 1].max()) if len(out) else 4
        downbeats = out[out[:, 1] == 1, 0] if len(out) else np.zeros(0)
        method = "madmom-blstm+bar-dbn"
    else:
        beats = np.asarray(_beat_dbn(min_bpm, max_bpm)(beat_act), float)
        strength = _peak_at(act[:, 1], beats, FPS)
        bpb, phase = choose_bar(strength)
        downbeats = beats[phase::bpb]
        method = "madmom-blstm+beat-dbn"
    return BeatResult(
        beats=np.asarray(beats, float),
        downbeats=np.asarray(downbeats, float),
        tempo=tempo_of(beats),
        beats_per_bar=bpb,
        beat_act=beat_act.astype(np.float32),
        downbeat_act=act[:, 1].astype(np.float32),
        onset=onset,
        fps=FPS,
        method=method + (f"x{n_networks}" if n_networks != 8 else ""),
        strength=strength,
    )


def _flux(features: np.ndarray) -> np.ndarray:
    """Onset strength: the summed positive spectral differences of the three spectrograms."""
    widths = (21, 45, 91)  # bands of the 1024/2048/4096 spectrograms; each is followed by its diff
    total, start = np.zeros(len(features), np.float32), 0
    for w in widths:
        total += features[:, start + w : start + 2 * w].sum(axis=1)
        start += 2 * w
    return total


LIBROSA_HOP = 512
TEMPO_CHUNK = 2**14  # onset frames (about 6 min) per tempogram block: its memory is 344 floats a frame


def chunked_tempo(onset: np.ndarray, sr: int) -> float:
    """librosa's global tempo estimate (the tempogram's time average, weighted by its prior around
    120 BPM), with the tempogram summed a block at a time so that its memory stays bounded on an
    hour of onsets; blocks lose a few seconds of autocorrelation context at their edges."""
    total, frames = None, 0
    win_length = int(librosa.time_to_frames(8.0, sr=sr, hop_length=LIBROSA_HOP))  # librosa's ac_size
    for start in range(0, len(onset), TEMPO_CHUNK):
        tg = librosa.feature.tempogram(
            onset_envelope=onset[start : start + TEMPO_CHUNK],
            sr=sr,
            hop_length=LIBROSA_HOP,
            win_length=win_length,
        )
        total = tg.sum(axis=1) if total is None else total + tg.sum(axis=1)
        frames += tg.shape[1]
    mean = (total / frames)[:, None]
    return float(librosa.feature.tempo(tg=mean, sr=sr, hop_length=LIBROSA_HOP, aggregate=None)[0])


def librosa_envelopes(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(onset strength, low-band onset strength, frames per second) of mono ``y``: all the librosa
    tracker reads, small enough to hold for hours of audio."""
    mel = librosa.feature.melspectrogram(y=y, sr=sr, hop_length=LIBROSA_HOP, n_fft=2048, n_mels=64)
    db = librosa.power_to_db(mel, ref=np.max)
    onset = librosa.onset.onset_strength(S=db, sr=sr, hop_length=LIBROSA_HOP)
    low = librosa.onset.onset_strength(S=db[:8], sr=sr, hop_length=LIBROSA_HOP)  # below ~250 Hz: kick, bass
    return onset.astype(np.float32), low.astype(np.float32), sr / LIBROSA_HOP


def beats_from_envelopes(
    onset: np.ndarray, low: np.ndarray, fps: float, chroma: np.ndarray | None = None
) -> BeatResult:
    """Onset-strength beat tracking, and the bar phase where chroma changes and low-frequency onsets
    concentrate. ``chroma``: optional (12, frames) on the envelopes' frame grid."""
    sr = int(round(fps * LIBROSA_HOP))
    bpm = chunked_tempo(onset, sr) if len(onset) > TEMPO_CHUNK else None  # else librosa's own, identical
    _, frames = librosa.beat.beat_track(
        onset_envelope=onset, sr=sr, hop_length=LIBROSA_HOP, units="frames", trim=False, bpm=bpm
    )
    beats = librosa.frames_to_time(frames, sr=sr, hop_length=LIBROSA_HOP)
    bpb, phase = 4, 0
    strength = np.zeros(len(beats))
    if len(frames) >= 2 * max(METERS):
        strength = _zscore(_peak_at(low, beats, fps))
        if chroma is not None:
            sync = librosa.util.sync(chroma, frames, aggregate=np.median)[:, : len(frames)]
            change = np.r_[0.0, np.linalg.norm(np.diff(sync, axis=1), axis=0)]
            strength = strength + _zscore(change)
        bpb, phase = choose_bar(strength)
    beat_ind = np.zeros(len(onset), np.float32)
    beat_ind[frames[frames < len(onset)]] = 1.0
    return BeatResult(
        beats=beats,
        downbeats=beats[phase::bpb],
        tempo=tempo_of(beats),
        beats_per_bar=bpb,
        beat_act=beat_ind,
        downbeat_act=np.zeros(len(onset), np.float32),
        onset=onset.astype(np.float32),  # unscaled: a lead sheet scales it over the whole track
        fps=fps,
        method="librosa-beat-track+bar-phase",
        strength=strength,
    )


def track_librosa(y: np.ndarray, sr: int, chroma: np.ndarray | None = None) -> BeatResult:
    """``y``: mono audio at ``sr``. ``chroma``: optional (12, frames) chroma at hop 512 for bar phase."""
    return beats_from_envelopes(*librosa_envelopes(y, sr), chroma=chroma)


def _zscore(v: np.ndarray) -> np.ndarray:
    s = v.std()
    return (v - v.mean()) / s if s > 0 else np.zeros_like(v)

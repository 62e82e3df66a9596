"""Chroma, chords and key from the harmonic part of a track.

Chords are decoded per beat: the constant-Q chroma is averaged between consecutive beats, scored
against the 24 major/minor triad templates and a no-chord template, and the best label sequence is
found by Viterbi with a strong preference for staying on the same chord (chords change on beats and
rarely on every beat). Key is Krumhansl-Schmuckler estimation on the track's mean chroma with the
Albrecht & Shanahan (2013) corpus profiles, which separate relative major and minor better than the
original probe-tone profiles.
"""

from __future__ import annotations

import librosa
import numpy as np

from s2acc.leadsheet.sheet import CHORD_LABELS, NO_CHORD, PITCH_CLASSES

ANALYSIS_SR = 22050
HOP = 512
# C-rooted key profiles: relative frequency of each pitch class in major / minor pieces.
MAJOR_PROFILE = np.array([0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081])
MINOR_PROFILE = np.array([0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052])


def chroma(y: np.ndarray, sr: int = ANALYSIS_SR, hop: int = HOP) -> np.ndarray:
    """(12, frames) constant-Q chroma of mono ``y``, each frame scaled to max 1 (silent frames 0)."""
    if not np.any(y):
        return np.zeros((12, 1 + len(y) // hop), np.float32)
    c = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=hop, bins_per_octave=36, norm=None, tuning=0.0)
    peak = c.max(axis=0, keepdims=True)
    return np.where(peak > 1e-6 * max(float(peak.max()), 1e-12), c / np.maximum(peak, 1e-12), 0.0).astype(
        np.float32
    )


def chord_templates() -> np.ndarray:
    """(25, 12) unit-norm templates in :data:`CHORD_LABELS` order; N is flat."""
    t = np.zeros((25, 12))
    for root in range(12):
        t[root, [root, (root + 4) % 12, (root + 7) % 12]] = 1.0
        t[12 + root, [root, (root + 3) % 12, (root + 7) % 12]] = 1.0
    t[NO_CHORD] = 1.0
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def decode_chords(
    beat_chroma: np.ndarray, energy: np.ndarray, stay: float = 0.85, sharpness: float = 12.0
) -> np.ndarray:
    """Chord class per beat interval by Viterbi.

    ``beat_chroma``: (12, n) chroma averaged per interval; ``energy``: (n,) relative loudness in [0, 1]
    of each interval (quiet intervals lean towards N).
    """
    n = beat_chroma.shape[1]
    if n == 0:
        return np.zeros(0, np.int16)
    norms = np.linalg.norm(beat_chroma, axis=0)
    unit = beat_chroma / np.maximum(norms, 1e-9)
    sim = chord_templates() @ unit  # (25, n) cosine
    sim[NO_CHORD] = np.where(norms > 1e-9, 0.55, 1.0)  # a flat chroma scores about 0.58 against a triad
    sim[NO_CHORD] += 0.5 * (1.0 - np.clip(energy * 4, 0, 1))
    prob = np.exp(sharpness * (sim - sim.max(axis=0, keepdims=True)))
    prob /= prob.sum(axis=0, keepdims=True)
    transition = librosa.sequence.transition_loop(25, stay)
    return librosa.sequence.viterbi(prob, transition).astype(np.int16)


def chords_on_beats(
    chroma_frames: np.ndarray,
    rms: np.ndarray,
    beats: np.ndarray,
    duration: float,
    frame_rate: float,
) -> list[tuple[float, float, str]]:
    """(start, end, label) chord intervals with boundaries on beats, merged where the label repeats.

    ``chroma_frames`` (12, T) and ``rms`` (T,) at ``frame_rate``; without beats, one-second steps.
    """
    grid = np.asarray(beats, float)
    if len(grid) < 2:
        grid = np.arange(0.0, duration, 1.0)
    edges = np.unique(np.clip(np.concatenate([[0.0], grid, [duration]]), 0.0, duration))
    edges = edges[np.r_[True, np.diff(edges) > 1e-3]]
    if len(edges) < 2:
        return []
    idx = np.clip(np.round(edges * frame_rate).astype(int), 0, chroma_frames.shape[1])
    sums_c = np.concatenate([np.zeros((12, 1)), np.cumsum(chroma_frames, axis=1)], axis=1)
    sums_e = np.concatenate([[0.0], np.cumsum(rms)])
    counts = np.maximum(np.diff(idx), 1)
    beat_chroma = (sums_c[:, idx[1:]] - sums_c[:, idx[:-1]]) / counts
    level = (sums_e[idx[1:]] - sums_e[idx[:-1]]) / counts
    energy = level / max(float(level.max()), 1e-12)
    labels = decode_chords(beat_chroma, energy)
    out: list[tuple[float, float, str]] = []
    for start, end, label in zip(edges[:-1], edges[1:], labels, strict=True):
        name = CHORD_LABELS[int(label)]
        if out and out[-1][2] == name:
            out[-1] = (out[-1][0], float(end), name)
        else:
            out.append((float(start), float(end), name))
    return out


def estimate_key(mean_chroma: np.ndarray) -> tuple[str | None, float]:
    """(key label such as "A minor", correlation) from a 12-bin mean chroma; None when it is flat."""
    c = np.asarray(mean_chroma, float)
    if c.shape != (12,) or np.ptp(c) < 1e-6:
        return None, 0.0
    profiles = np.stack([np.roll(p, k) for p in (MAJOR_PROFILE, MINOR_PROFILE) for k in range(12)])
    profiles = profiles - profiles.mean(axis=1, keepdims=True)
    c = c - c.mean()
    corr = profiles @ c / (np.linalg.norm(profiles, axis=1) * np.linalg.norm(c))
    best = int(np.argmax(corr))
    return f"{PITCH_CLASSES[best % 12]} {'major' if best < 12 else 'minor'}", float(corr[best])

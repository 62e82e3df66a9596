"""Predominant melody (f0 and voicing) of the harmonic part, by harmonic-sum salience and Viterbi.

A constant-Q transform at a third of a semitone gives the log-frequency spectrum; the salience of a
candidate pitch is the weighted sum of the magnitudes at its first harmonics (Klapuri 2006 style),
pooled per semitone over the melody range. A Viterbi pass over the semitone candidates plus an
unvoiced state favours small steps and sustained notes, which removes the octave and accompaniment
jumps of a frame-wise argmax. Before the harmonic sum, part of each bin's running minimum over about a
second is taken away: held chords and pads sit under the melody for longer than its notes do, so this
lowers the accompaniment more than the tune. The harmonic sum is then scaled by the square root of
the candidate's own bin relative to the frame's strongest: a candidate an octave below a note collects
that note's partials as its even harmonics but has no fundamental of its own, so it no longer outweighs
the note. A candidate is voiced where its salience is a clear share of the frame's strongest, and the
frame is not much quieter than the track. The f0 is refined to the peak of the salience within the
chosen semitone.
"""

from __future__ import annotations

import librosa
import numpy as np
from scipy.ndimage import minimum_filter1d

ANALYSIS_SR = 22050
HOP = 256
BINS_PER_SEMITONE = 3
FMIN_MIDI = 36  # C2: lowest analysed semitone; harmonics of the melody range lie above
FMIN_BIN = FMIN_MIDI - 1 / BINS_PER_SEMITONE  # so the middle bin of each group of three is on the semitone
N_OCTAVES = 7
MELODY_RANGE = (55, 96)  # G3 .. C7, MIDI
HARMONIC_WEIGHTS = (1.0, 0.8, 0.64, 0.51, 0.41)
BACKGROUND_SECONDS = 1.0  # running-minimum window: longer than most melody notes, shorter than a chord
BACKGROUND_SHARE = 0.5  # share of that floor removed; all of it would also erase long held melody notes
FUNDAMENTAL_POWER = 0.5  # exponent on a candidate's own bin share (0: plain harmonic sum)


def salience(
    y: np.ndarray,
    sr: int = ANALYSIS_SR,
    hop: int = HOP,
    n_harmonics: int = 5,
    compression: float = 100.0,
    background: float = BACKGROUND_SHARE,
    fundamental: float = FUNDAMENTAL_POWER,
) -> np.ndarray:
    """(n_bins, frames) harmonic-sum salience on the CQT grid starting at :data:`FMIN_MIDI`.

    ``background`` is the share of each bin's running minimum (over :data:`BACKGROUND_SECONDS`) taken
    away first, so sustained accompaniment weighs less than the notes that come and go over it.
    ``fundamental`` is the power of each bin's share of its frame's strongest bin that scales the sum:
    it favours a candidate whose fundamental sounds over its sub-octave.
    """
    bpo = 12 * BINS_PER_SEMITONE
    n_bins = bpo * N_OCTAVES
    fmax_allowed = sr / 2 * 0.95
    while librosa.midi_to_hz(FMIN_BIN) * 2 ** (n_bins / bpo) > fmax_allowed:
        n_bins -= 1
    spec = np.abs(
        librosa.cqt(
            y,
            sr=sr,
            hop_length=hop,
            fmin=librosa.midi_to_hz(FMIN_BIN),
            n_bins=n_bins,
            bins_per_octave=bpo,
            tuning=0.0,
        )
    )
    spec = np.log1p(compression * spec / max(float(spec.max()), 1e-12))  # compress the dynamic range
    if background > 0:
        width = max(1, int(round(BACKGROUND_SECONDS * sr / hop)) | 1)
        spec = np.maximum(spec - background * minimum_filter1d(spec, width, axis=1), 0.0)
    out = np.zeros_like(spec)
    for h, w in enumerate(HARMONIC_WEIGHTS[:n_harmonics], start=1):
        shift = int(round(bpo * np.log2(h)))
        out[: n_bins - shift] += w * spec[shift:]
    if fundamental > 0:
        out *= (spec / np.maximum(spec.max(axis=0, keepdims=True), 1e-12)) ** fundamental
    return out


def track_melody(
    y: np.ndarray,
    sr: int,
    stay: float = 0.9,
    voicing_threshold: float = 0.6,
    top_bias: float = 2.5,
    sharpness: float = 4.0,
    n_harmonics: int = 5,
    compression: float = 100.0,
) -> dict:
    """``y`` mono. Returns times (s), f0 (Hz, 0 unvoiced), voicing (0/1) and the analysis frame rate."""
    if sr != ANALYSIS_SR:
        from s2acc.audio import resample

        y = resample(y[None].astype(np.float32), sr, ANALYSIS_SR)[0]
    n_frames = 1 + len(y) // HOP
    if not np.any(y):
        zeros = np.zeros(n_frames, np.float32)
        return {
            "times": np.arange(n_frames) * HOP / ANALYSIS_SR,
            "f0": zeros,
            "voicing": zeros,
            "frame_rate": ANALYSIS_SR / HOP,
        }
    sal = salience(y, n_harmonics=n_harmonics, compression=compression)
    n_frames = sal.shape[1]
    lo = (MELODY_RANGE[0] - FMIN_MIDI) * BINS_PER_SEMITONE
    hi = min((MELODY_RANGE[1] - FMIN_MIDI + 1) * BINS_PER_SEMITONE, sal.shape[0])
    n_semi = (hi - lo) // BINS_PER_SEMITONE
    band = sal[lo : lo + n_semi * BINS_PER_SEMITONE].reshape(n_semi, BINS_PER_SEMITONE, n_frames)
    semi = band.max(axis=1)  # (n_semi, frames)
    peak = semi.max(axis=0)
    loud = peak / max(float(np.percentile(peak, 95)), 1e-12)
    # Emissions: voiced states by relative salience; the unvoiced state wins in quiet frames.
    rel = semi / np.maximum(peak, 1e-12)
    voiced_p = np.clip(loud, 0, 1) * rel**sharpness * top_bias ** (np.arange(n_semi)[:, None] / 12)
    unvoiced_p = np.clip(1.0 - loud / voicing_threshold, 0.02, 1.0)
    prob = np.vstack([voiced_p, unvoiced_p[None]])
    prob /= prob.sum(axis=0, keepdims=True)
    n_states = n_semi + 1
    trans = np.zeros((n_states, n_states))
    steps = np.arange(n_semi)
    trans[:n_semi, :n_semi] = np.exp(-np.abs(steps[:, None] - steps[None, :]) / 3.0)
    trans[:n_semi, :n_semi] *= (1 - stay) / trans[:n_semi, :n_semi].sum(axis=1, keepdims=True) * 0.9
    trans[steps, steps] = stay
    trans[:n_semi, -1] = 1 - trans[:n_semi, :n_semi].sum(axis=1)
    trans[-1, :] = (1 - stay) / n_semi
    trans[-1, -1] = stay
    path = librosa.sequence.viterbi(prob, trans)
    voiced = path < n_semi
    state = np.where(voiced, path, 0)
    fine = band[state, :, np.arange(n_frames)].argmax(axis=1)  # bin within the semitone
    bins = lo + state * BINS_PER_SEMITONE + fine
    midi = FMIN_BIN + bins / BINS_PER_SEMITONE
    f0 = np.where(voiced, librosa.midi_to_hz(midi), 0.0).astype(np.float32)
    return {
        "times": np.arange(n_frames) * HOP / ANALYSIS_SR,
        "f0": f0,
        "voicing": voiced.astype(np.float32),
        "frame_rate": ANALYSIS_SR / HOP,
    }

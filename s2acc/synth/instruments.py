"""Instrument voices: each turns (pitch, gate length, parameters) into a mono note.

Several synthesis methods give the corpus timbral variety: additive (organ, pad, flute, strings),
two-operator FM (electric piano, bells), Karplus-Strong plucked strings (guitar, harp), subtractive
(sawtooth or pulse through a low-pass filter: synth leads and basses), and noise/sweep drums. A track
draws its voices and their parameters from its random generator, so two tracks rarely sound alike; the
presets and the ranges they draw from are data, ``s2acc/data/synth_voices.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import yaml
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


# name -> method, tag, words, params and sustained; the file's header explains the parameter specs.
_PRESETS: dict = yaml.safe_load(resources.files("s2acc").joinpath("data/synth_voices.yaml").read_text())
VOICE_PRESETS = tuple(_PRESETS)


def _draw(spec, rng: np.random.Generator):
    """A parameter from its spec: a constant as is, a list element by element, else drawn from ``rng``
    (in the order of the specs, which every track's audio depends on)."""
    if isinstance(spec, list):
        return [_draw(s, rng) for s in spec]
    if not isinstance(spec, dict):
        return spec
    ((how, args),) = spec.items()
    if how == "uniform":
        return float(rng.uniform(*args))
    if how == "choice":
        return rng.choice(args).item()
    if how == "series":
        n, power = args
        return [1.0 / k**power for k in range(1, n + 1)]
    raise ValueError(f"unknown parameter spec {spec!r}")


def draw_voice(name: str, rng: np.random.Generator) -> Voice:
    """Draw the parameters of a named preset; the spread keeps each track's timbre its own."""
    if name not in _PRESETS:
        raise ValueError(f"unknown voice preset {name!r}")
    preset = _PRESETS[name]
    params = {key: _draw(spec, rng) for key, spec in preset["params"].items()}
    sustained = preset.get("sustained", True)
    return Voice(name, preset["method"], preset["tag"], preset["words"], params, sustained)

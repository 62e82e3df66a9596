"""Damaged copies of corpus tracks, so that graders and filters can be tested against known faults.

Each defect returns the damaged audio and a record of how much damage was done, kept in the truth.
``caption_mismatch`` leaves the audio intact; the corpus pairs it with another track's caption.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

DEFECTS = ("clipping", "noise", "lowpass", "silence", "caption_mismatch")


def clipping(audio: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Overdrive into a hard clip at full scale: a large share of samples sit on the rails."""
    drive = float(rng.uniform(4.0, 8.0))
    out = np.clip(audio * drive, -1.0, 1.0)
    return out.astype(np.float32), {
        "drive": round(drive, 3),
        "clipped_fraction": round(float(np.mean(np.abs(out) >= 0.999)), 4),
    }


def noise(audio: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Broadband white noise at a signal-to-noise ratio of 0-6 dB."""
    snr_db = float(rng.uniform(0.0, 6.0))
    power = float(np.mean(audio.astype(np.float64) ** 2))
    hiss = rng.standard_normal(audio.shape) * np.sqrt(power / 10 ** (snr_db / 10))
    out = audio + hiss
    peak = np.max(np.abs(out))
    if peak > 1.0:
        out /= peak
    return out.astype(np.float32), {"snr_db": round(snr_db, 2)}


def lowpass(
    audio: np.ndarray, sr: int, rng: np.random.Generator, cutoff: float = 4000.0
) -> tuple[np.ndarray, dict]:
    """An 8th-order Butterworth low-pass at 4 kHz, as a band-limited transfer would leave it."""
    sos = signal.butter(8, cutoff, fs=sr, output="sos")
    return signal.sosfiltfilt(sos, audio, axis=-1).astype(np.float32), {"cutoff_hz": cutoff}


def silence(audio: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """One or two long dropouts covering 30-50% of the track."""
    n = audio.shape[-1]
    share = float(rng.uniform(0.3, 0.5))
    spans = []
    if rng.random() < 0.5:
        length = int(share * n)
        start = int(rng.integers(0, n - length + 1))
        spans.append((start, start + length))
    else:
        length = int(share * n / 2)
        first = int(rng.integers(0, n // 2 - length + 1))
        second = int(rng.integers(n // 2, n - length + 1))
        spans += [(first, first + length), (second, second + length)]
    out = audio.copy()
    for a, b in spans:
        out[:, a:b] = 0.0
    return out, {
        "silent_spans": [[round(a / sr, 3), round(b / sr, 3)] for a, b in spans],
        "silent_fraction": round(sum(b - a for a, b in spans) / n, 4),
    }


def caption_mismatch(audio: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    return audio, {}


APPLY = {
    "clipping": clipping,
    "noise": noise,
    "lowpass": lowpass,
    "silence": silence,
    "caption_mismatch": caption_mismatch,
}


def damage(kind: str, audio: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    if kind not in APPLY:
        raise ValueError(f"unknown defect {kind!r}; choose from {', '.join(DEFECTS)}")
    return APPLY[kind](audio, sr, rng)

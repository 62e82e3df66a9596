"""Vectorised spectrograms with madmom's exact framing, so its networks get the inputs they were trained on.

madmom frames a signal around reference samples ``int(i * hop)`` (zero-padded at both ends) and runs
its STFT one frame at a time in Python; here all frames go through one real FFT. The filterbanks are
madmom's own. :func:`madmom_spectrogram` matches madmom's ``LogarithmicFilteredSpectrogram`` (and,
with ``diff=True``, its ``SpectrogramDifference`` stacking) to float32 rounding; the tests check it.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from s2acc.leadsheet._madmom import import_madmom

SR = 44100  # madmom's networks were trained on 44.1 kHz input


def frame_signal(x: np.ndarray, frame_size: int, fps: float, sr: int = SR) -> np.ndarray:
    """(num_frames, frame_size) view-like array: frame i is centred on sample ``int(i * sr / fps)``."""
    hop = sr / fps
    n_frames = int(np.ceil(len(x) / hop))
    half = frame_size // 2
    padded = np.concatenate([np.zeros(half, x.dtype), x, np.zeros(frame_size, x.dtype)])
    starts = (np.arange(n_frames) * hop).astype(np.int64)
    return sliding_window_view(padded, frame_size)[starts]


@functools.cache
def _filterbank(frame_size: int, num_bands: int, fmin: float, fmax: float, norm: bool, sr: int) -> np.ndarray:
    import_madmom()
    from madmom.audio.filters import LogarithmicFilterbank
    from madmom.audio.stft import fft_frequencies

    freqs = fft_frequencies(frame_size // 2, sr)
    fb = LogarithmicFilterbank(
        freqs, num_bands=num_bands, fmin=fmin, fmax=fmax, norm_filters=norm, unique_filters=True
    )
    return np.asarray(fb, np.float32)


@functools.cache
def _window(frame_size: int) -> np.ndarray:
    return np.hanning(frame_size).astype(np.float32)


def filtered(x: np.ndarray, frame_size: int, fps: float, fb: np.ndarray, sr: int = SR) -> np.ndarray:
    """|STFT| @ filterbank, Hann window, no Nyquist bin (madmom's convention).

    Frames go through the FFT in blocks that stay in cache: whole-signal temporaries of a 4096-point
    STFT are tens of MB and cost more in page faults than the FFT itself.
    """
    frames = frame_signal(x.astype(np.float32), frame_size, fps, sr)
    window = _window(frame_size)
    half = frame_size // 2
    block = max(1, 2**18 // frame_size)
    out = np.empty((len(frames), fb.shape[1]), np.float32)
    for i in range(0, len(frames), block):
        spec = scipy.fft.rfft(frames[i : i + block] * window, axis=1, workers=1)
        out[i : i + block] = np.abs(spec[:, :half]) @ fb
    return out


def diff_frames(frame_size: int, fps: float, sr: int = SR, ratio: float = 0.5) -> int:
    """madmom's rule: the lag at which the Hann window overlap falls below ``ratio``."""
    window = np.hanning(frame_size)
    sample = np.argmax(window > ratio * window.max())
    return int(max(1, round((len(window) / 2 - sample) / (sr / fps))))


def madmom_spectrogram(
    x: np.ndarray,
    frame_size: int,
    fps: float,
    num_bands: int,
    fmin: float,
    fmax: float,
    norm_filters: bool = True,
    diff: bool = False,
    sr: int = SR,
) -> np.ndarray:
    """log10(1 + filtered |STFT|); with ``diff`` the positive frame difference is stacked to its right."""
    fb = _filterbank(frame_size, num_bands, float(fmin), float(fmax), norm_filters, sr)
    spec = np.log10(1.0 + filtered(x, frame_size, fps, fb, sr))
    if not diff:
        return spec
    lag = diff_frames(frame_size, fps, sr)
    d = np.zeros_like(spec)
    d[lag:] = np.maximum(spec[lag:] - spec[:-lag], 0.0)
    return np.hstack([spec, d])

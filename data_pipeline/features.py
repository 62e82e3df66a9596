"""Measured descriptors of one audio segment, and the coarse words a caption may use for them.

The caption stage writes its offline captions from these numbers and the grade stage checks any
caption's claims against them (:mod:`data_pipeline.consistency`), so both need the same values and the
same word bands. Everything is plain DSP on one short-time spectrum per rate, cheap enough to run on
every segment:

- tempo: autocorrelation of a log-mel spectral-flux envelope; the metrical level (half, double) is the
  autocorrelation peak nearest the rate of low-band (kick, bass) onsets, since the beat is usually
  where drums and bass strike, not where hi-hats subdivide or bars repeat;
- key: Krumhansl-Schmuckler on the segment's mean chroma, with the lead-sheet stage's profiles
  (:func:`s2acc.leadsheet.harmony.estimate_key`);
- loudness: BS.1770 integrated loudness; energy: RMS level; brightness: spectral centroid and 85%
  roll-off of the long-term spectrum; density: onsets per second; percussiveness: the share of
  mel energy a median-filter harmonic/percussive split assigns to the percussive part; dynamic range:
  the spread (95th - 10th percentile) of 400 ms block levels.

Values that cannot be measured (no pulse, no pitched content, silence) are None, never NaN, so the
dictionary stays JSON-safe.
"""

from __future__ import annotations

import re

import librosa
import numpy as np
from scipy.ndimage import median_filter

from s2acc.audio import integrated_loudness, mono_samples, resample
from s2acc.leadsheet.harmony import estimate_key as key_from_chroma

__all__ = [
    "BRIGHTNESS_BANDS",
    "DENSITY_BANDS",
    "ENERGY_BANDS",
    "TEMPO_BANDS",
    "brightness_word",
    "density_word",
    "energy_word",
    "estimate_key",
    "estimate_tempo",
    "measure",
    "normalize_key",
    "tempo_feel",
    "word_for",
]

FLATS = {
    "Db": "C#",
    "Eb": "D#",
    "Gb": "F#",
    "Ab": "G#",
    "Bb": "A#",
    "Cb": "B",
    "Fb": "E",
    "E#": "F",
    "B#": "C",
}

# Word bands: (upper bound, word) in increasing order; a value at or above every bound gets ``last``.
# Tempo bands follow the conventional Italian markings, coarsened to the four words captions use.
TEMPO_BANDS = ((76.0, "slow"), (108.0, "mid-tempo"), (140.0, "upbeat")), "fast"
# RMS level of the whole segment in dBFS: mastered full-band music sits around -20 to -10.
ENERGY_BANDS = ((-27.0, "low-energy"), (-17.0, "moderate-energy")), "high-energy"
# Spectral centroid of the long-term spectrum in Hz.
BRIGHTNESS_BANDS = ((1200.0, "dark"), (2400.0, "warm")), "bright"
# Onsets per second.
DENSITY_BANDS = ((2.0, "sparse"), (4.5, "moderately busy")), "dense"

ANALYSIS_SR = 22050  # flux, spectrum, percussive split
N_FFT, HOP = 1024, 256  # 46 ms windows, 86 frames per second
KEY_SR, KEY_FFT, KEY_HOP = 11025, 4096, 2048  # 2.7 Hz bins: enough to resolve semitones in the bass
N_MELS = 64
LOW_BAND_HZ = 200.0  # kick drum and bass
TEMPO_RANGE = (40.0, 240.0)
OCTAVE_WIDTH = 0.6  # spread (in octaves) of the preference for the low-band onset rate


def word_for(value: float | None, bands: tuple) -> str | None:
    """The word of the band ``value`` falls in (None for None)."""
    if value is None:
        return None
    bounds, last = bands
    for upper, word in bounds:
        if value < upper:
            return word
    return last


def tempo_feel(bpm: float | None) -> str | None:
    """slow < 76 <= mid-tempo < 108 <= upbeat < 140 <= fast (BPM)."""
    return word_for(bpm, TEMPO_BANDS)


def energy_word(rms_db: float | None) -> str | None:
    """low-energy < -27 dBFS <= moderate-energy < -17 dBFS <= high-energy."""
    return word_for(rms_db, ENERGY_BANDS)


def brightness_word(centroid_hz: float | None) -> str | None:
    """dark < 1200 Hz <= warm < 2400 Hz <= bright (spectral centroid)."""
    return word_for(centroid_hz, BRIGHTNESS_BANDS)


def density_word(onsets_per_second: float | None) -> str | None:
    """sparse < 2 <= moderately busy < 4.5 <= dense (onsets per second)."""
    return word_for(onsets_per_second, DENSITY_BANDS)


def normalize_key(key: str | None) -> str | None:
    """``"A minor"``, ``"A:min"``, ``"Am"``, ``"Bb major"``, ``"a# min"`` -> ``"A minor"``/``"A# major"``;
    None for None, ``"N"``, ``"X"`` or text that names no key."""
    if not key:
        return None
    match = re.fullmatch(r"\s*([A-Ga-g])([#b]?)\s*[:\s]?\s*(major|minor|maj|min|m|M)?\s*", str(key))
    if not match:
        return None
    tonic = match.group(1).upper() + match.group(2)
    tonic = FLATS.get(tonic, tonic)
    mode = match.group(3) or "maj"
    return f"{tonic} {'minor' if mode in ('minor', 'min', 'm') else 'major'}"


def _flux(mel_db: np.ndarray) -> np.ndarray:
    """Half-wave rectified frame-to-frame increase of each mel band (same length as the input)."""
    return np.maximum(0.0, np.diff(mel_db, axis=1, prepend=mel_db[:, :1]))


def estimate_tempo(envelope: np.ndarray, low_envelope: np.ndarray, frame_rate: float) -> tuple[float, float]:
    """(BPM, pulse clarity) from an onset envelope; BPM is NaN when there is no periodicity.

    Peaks of the envelope's autocorrelation over 40-240 BPM are weighted by a log-Gaussian centred on
    the low-band onset rate (clamped to 60-180 per minute), which picks the metrical level; the lag of
    the winning peak is refined by parabolic interpolation, which matters at fast tempi where one
    frame of lag is several percent of the period.
    """
    n = len(envelope)
    e = envelope - envelope.mean()
    if n < 8 or not np.any(e):
        return float("nan"), 0.0
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    ac = np.fft.irfft(np.abs(np.fft.rfft(e, nfft)) ** 2)[:n]
    ac /= ac[0]
    bpms = np.geomspace(*TEMPO_RANGE, 600)
    lags = 60.0 * frame_rate / bpms
    salience = np.interp(lags, np.arange(n), ac, right=0.0)
    peaks = np.flatnonzero((salience[1:-1] >= salience[:-2]) & (salience[1:-1] > salience[2:])) + 1
    peaks = peaks[(salience[peaks] > 0) & (lags[peaks] < n - 2)]
    if not len(peaks):
        return float("nan"), 0.0
    onsets = librosa.onset.onset_detect(onset_envelope=low_envelope, sr=frame_rate, hop_length=1)
    rate = np.clip(len(onsets) / (n / frame_rate) * 60.0, 60.0, 180.0)
    weight = np.exp(-0.5 * (np.log2(bpms[peaks] / rate) / OCTAVE_WIDTH) ** 2)
    best = peaks[int(np.argmax(salience[peaks] * weight))]
    lag = int(round(lags[best]))
    y0, y1, y2 = ac[lag - 1], ac[lag], ac[lag + 1]
    curve = y0 - 2 * y1 + y2
    shift = 0.5 * (y0 - y2) / curve if curve < 0 else 0.0
    return float(60.0 * frame_rate / (lag + np.clip(shift, -0.5, 0.5))), float(salience[best])


def estimate_key(mono: np.ndarray, sr: int) -> tuple[str | None, float]:
    """(key label, correlation) by Krumhansl-Schmuckler on the mean frame-normalised chroma."""
    y = resample(mono[None, :], sr, KEY_SR, quality="MQ")[0] if sr != KEY_SR else mono
    if len(y) < KEY_FFT:
        y = np.pad(y, (0, KEY_FFT - len(y)))
    power = np.abs(librosa.stft(y, n_fft=KEY_FFT, hop_length=KEY_HOP)) ** 2
    if power.sum() <= 1e-10:
        return None, 0.0
    chroma = librosa.feature.chroma_stft(S=power, sr=KEY_SR, n_fft=KEY_FFT, tuning=0.0).mean(axis=1)
    return key_from_chroma(chroma)


def _percussive_share(mel_power: np.ndarray) -> float:
    """Share of mel power that a median-filter split (Fitzgerald 2010) calls percussive."""
    harmonic = median_filter(mel_power, size=(1, 17), mode="reflect")  # smooth along time (~0.2 s)
    percussive = median_filter(mel_power, size=(9, 1), mode="reflect")  # smooth along frequency
    total = harmonic**2 + percussive**2 + 1e-20
    p_energy = float((mel_power * percussive**2 / total).sum())
    h_energy = float((mel_power * harmonic**2 / total).sum())
    return p_energy / (p_energy + h_energy) if p_energy + h_energy > 0 else 0.0


def _block_levels(mono: np.ndarray, sr: int) -> np.ndarray:
    """RMS level in dBFS of 400 ms blocks every 100 ms."""
    block, hop = int(0.4 * sr), int(0.1 * sr)
    if len(mono) < block:
        mono = np.pad(mono, (0, block - len(mono)))
    power = np.concatenate([[0.0], np.cumsum(mono.astype(np.float64) ** 2)])
    starts = np.arange(0, len(mono) - block + 1, hop)
    mean_square = (power[starts + block] - power[starts]) / block
    return 10 * np.log10(np.maximum(mean_square, 1e-12))


def _rounded(value: float | None, digits: int) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), digits)


def measure(
    audio: np.ndarray,
    sr: int,
    beats: np.ndarray | None = None,
    tempo: float | None = None,
    key: str | None = None,
) -> dict:
    """Descriptors and words of one segment.

    ``audio`` is ``(channels, samples)`` or mono; ``beats`` (seconds from the segment start), ``tempo``
    and ``key`` come from the lead-sheet stage when it ran: a given tempo wins, else the median beat
    period of >= 4 beats, else the estimate from the audio; a given key wins over the estimate.
    ``*_source`` fields say which was used.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None, :]
    mono = mono_samples(audio)
    duration = len(mono) / sr
    y = resample(mono[None, :], sr, ANALYSIS_SR, quality="MQ")[0] if sr != ANALYSIS_SR else mono
    if len(y) < N_FFT:
        y = np.pad(y, (0, N_FFT - len(y)))
    frame_rate = ANALYSIS_SR / HOP

    spectrum = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2  # (513, frames)
    mel_fb = librosa.filters.mel(sr=ANALYSIS_SR, n_fft=N_FFT, n_mels=N_MELS)
    mel_power = mel_fb @ spectrum
    silent = float(spectrum.sum()) <= 1e-10
    mel_db = librosa.power_to_db(mel_power, ref=max(float(mel_power.max()), 1e-10), top_db=80.0)
    flux = _flux(mel_db)
    envelope = flux.mean(axis=0)
    mel_centres = librosa.mel_frequencies(N_MELS + 2, fmax=ANALYSIS_SR / 2)[1:-1]
    low_envelope = flux[mel_centres < LOW_BAND_HZ].mean(axis=0)

    onsets = (
        [] if silent else librosa.onset.onset_detect(onset_envelope=envelope, sr=frame_rate, hop_length=1)
    )
    onset_rate = len(onsets) / duration if duration > 0 else 0.0

    # Tempo: given > from beats > estimated.
    pulse = None
    if tempo is not None and np.isfinite(tempo) and tempo > 0:
        bpm, tempo_source = float(tempo), "given"
    elif beats is not None and len(beats) >= 4 and np.median(np.diff(np.sort(beats))) > 0:
        bpm, tempo_source = float(60.0 / np.median(np.diff(np.sort(beats)))), "beats"
    elif silent:
        bpm, tempo_source = float("nan"), "none"
    else:
        bpm, pulse = estimate_tempo(envelope, low_envelope, frame_rate)
        tempo_source = "estimated" if np.isfinite(bpm) else "none"

    # Key: given > estimated.
    key_label, key_strength = normalize_key(key), None
    if key_label is not None:
        key_source = "given"
    elif silent:
        key_source = "none"
    else:
        key_label, key_strength = estimate_key(mono, sr)
        key_source = "estimated" if key_label else "none"

    mean_spectrum = spectrum.mean(axis=1)
    freqs = librosa.fft_frequencies(sr=ANALYSIS_SR, n_fft=N_FFT)
    if silent:
        centroid = rolloff = None
    else:
        centroid = float((freqs * mean_spectrum).sum() / mean_spectrum.sum())
        cumulative = np.cumsum(mean_spectrum)
        rolloff = float(freqs[min(int(np.searchsorted(cumulative, 0.85 * cumulative[-1])), len(freqs) - 1)])

    rms_db = 10 * np.log10(max(float(np.mean(audio.astype(np.float64) ** 2)), 1e-12))
    levels = _block_levels(mono, sr)
    audible = levels[levels > -70.0]
    dynamic_range = float(np.percentile(audible, 95) - np.percentile(audible, 10)) if len(audible) else 0.0
    loudness = integrated_loudness(audio, sr)

    tempo_value = _rounded(bpm, 2)
    return {
        "duration": round(duration, 3),
        "tempo": tempo_value,
        "tempo_source": tempo_source,
        "pulse_clarity": _rounded(pulse, 3),
        "key": key_label,
        "tonic": key_label.split()[0] if key_label else None,
        "mode": key_label.split()[1] if key_label else None,
        "key_source": key_source,
        "key_strength": _rounded(key_strength, 3),
        "loudness_lufs": _rounded(max(loudness, -70.0), 2),
        "rms_db": _rounded(max(rms_db, -120.0), 2),
        "dynamic_range_db": _rounded(dynamic_range, 2),
        "spectral_centroid_hz": _rounded(centroid, 1),
        "spectral_rolloff_hz": _rounded(rolloff, 1),
        "onset_rate": _rounded(onset_rate, 3),
        "percussiveness": _rounded(0.0 if silent else _percussive_share(mel_power), 3),
        "tempo_feel": tempo_feel(tempo_value),
        "energy_word": energy_word(rms_db),
        "brightness_word": brightness_word(centroid),
        "density_word": density_word(onset_rate),
    }

"""Segment grading: an aesthetics metric, a text-audio alignment metric, and their combined rank.

Aesthetics backends: ``audiobox-aesthetics`` (Meta's four axes CE, CU, PC, PQ) and the offline
``dsp-quality``, a 0-10 score built from faults a listener notices at once: clipping, dropouts,
missing high frequencies, a noise floor, squashed dynamics, a level far from mastered music.
Alignment backends: ``laion-clap`` and ``muq-mulan`` (cosine of audio and caption embeddings); the
offline alignment is :mod:`data_pipeline.consistency`. The model backends live in
:mod:`data_pipeline.model_graders` and load only when asked for.

:func:`combine` standardises each metric over the whole dataset (z-scores), weights them and ranks.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from s2acc.audio import integrated_loudness, mono_samples
from s2acc.config import ConfigError
from s2acc.rates import SAMPLE_RATE

N_FFT, HOP = 2048, 1024
SILENCE_DB = -60.0  # frame RMS below this is a dropout
CLIP_LEVEL = 0.999


class Aesthetics(Protocol):
    def score(self, clips: list[np.ndarray], sr: int) -> list[dict[str, float]]: ...


class Alignment(Protocol):
    def score(self, clips: list[np.ndarray], sr: int, captions: list[str]) -> list[float]: ...


def _clipped_fraction(audio: np.ndarray) -> float:
    """Share of samples in runs of >= 3 consecutive samples at full scale (single peaks are fine)."""
    a = np.atleast_2d(np.abs(np.asarray(audio, np.float32)) >= CLIP_LEVEL)
    run = a[:, 2:] & a[:, 1:-1] & a[:, :-2]
    return float(run.mean()) if run.size else 0.0


def dsp_measures(audio: np.ndarray, sr: int) -> dict[str, float]:
    """The raw measurements behind :class:`DspQuality`, all finite."""
    mono = mono_samples(audio)
    if sr != SAMPLE_RATE:
        from s2acc.audio import resample

        mono = resample(mono[None], sr, SAMPLE_RATE)[0]
        audio_for_level = resample(np.atleast_2d(audio).astype(np.float32), sr, SAMPLE_RATE)
    else:
        audio_for_level = np.atleast_2d(audio)
    n = max(len(mono), N_FFT)
    mono = np.pad(mono, (0, n - len(mono)))
    frames = np.lib.stride_tricks.sliding_window_view(mono, N_FFT)[::HOP]
    rms_db = 10 * np.log10(np.maximum((frames.astype(np.float64) ** 2).mean(axis=1), 1e-12))
    active = rms_db > SILENCE_DB
    silent_fraction = float(1.0 - active.mean())
    spec = np.abs(np.fft.rfft(frames * np.hanning(N_FFT), axis=1)) ** 2
    freqs = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
    if active.any():
        s = spec[active]
        mean_spec = s.mean(axis=0)
        # Bandwidth: the highest frequency still within 70 dB of the spectrum's peak. Dark but intact
        # music keeps faint highs (cymbal air, harmonics); a band-limited transfer cuts them off.
        level = 10 * np.log10(mean_spec + 1e-30)
        above = np.flatnonzero(level > level.max() - 70.0)
        bandwidth = float(freqs[above[-1]])
        band = s[:, (freqs > 200) & (freqs < 16000)] + 1e-20
        flatness = np.exp(np.log(band).mean(axis=1)) / band.mean(axis=1)
        noise_flatness = float(np.median(flatness))
        # Noise floor: the quietest active frames' level relative to the loud ones.
        noise_floor = float(np.percentile(rms_db[active], 5) - np.percentile(rms_db[active], 95))
        dynamic_range = -noise_floor
    else:
        bandwidth, noise_flatness, dynamic_range = 0.0, 0.0, 0.0
    loudness = integrated_loudness(audio_for_level, SAMPLE_RATE)
    return {
        "clipped_fraction": _clipped_fraction(audio),
        "silent_fraction": silent_fraction,
        "bandwidth_hz": bandwidth,
        "noise_flatness": noise_flatness,
        "dynamic_range_db": float(dynamic_range),
        "loudness_lufs": float(max(loudness, -70.0)),
    }


MASTERED_LUFS = -14.0  # streaming-platform loudness that released music is mastered to


def dsp_quality(m: dict[str, float]) -> float:
    """0-10: ten minus a capped penalty per fault (see the module docstring).

    The bandwidth and loudness terms are graded all the way (a little less air, a little off the
    mastered level), so clean segments do not all tie at 10 and the selection cut among them still
    follows a measured difference rather than the order of their ids.
    """
    penalties = [
        min(4.0, 400.0 * m["clipped_fraction"]),  # 1% of samples on the rails costs 4
        6.0 * m["silent_fraction"],
        float(np.clip(3.0 * (20000.0 - m["bandwidth_hz"]) / 16000.0, 0.0, 3.0)),  # full penalty at 4 kHz
        # Music's spectrum is peaky (flatness ~1e-4 to 1e-2); broadband noise pushes it towards 1.
        float(np.clip(1.5 * np.log10(max(m["noise_flatness"], 1e-12) / 0.01), 0.0, 3.0)),
        float(np.clip((4.0 - m["dynamic_range_db"]) / 2.0, 0.0, 1.0)),  # squashed flat
        float(np.clip(0.1 * abs(m["loudness_lufs"] - MASTERED_LUFS), 0.0, 2.0)),  # 10 LU off costs 1
    ]
    return float(max(0.0, 10.0 - sum(penalties)))


class DspQuality:
    """The offline aesthetics grader: a ``quality`` score plus the measurements behind it."""

    def __init__(self, device: str = "cpu") -> None:
        del device  # plain DSP

    def score(self, clips: list[np.ndarray], sr: int) -> list[dict[str, float]]:
        out = []
        for clip in clips:
            m = dsp_measures(clip, sr)
            out.append({"quality": dsp_quality(m), **m})
        return out


def make_aesthetics(name: str, device: str = "cpu", **params: Any) -> Aesthetics:
    if name == "dsp-quality":
        if params:
            raise ConfigError(f"aesthetics backend 'dsp-quality' takes no params, got {sorted(params)}")
        return DspQuality(device)
    if name == "audiobox-aesthetics":
        from data_pipeline.model_graders import AudioboxAesthetics

        return AudioboxAesthetics(device=device, **params)
    raise ConfigError(f"unknown aesthetics backend {name!r}; choose from dsp-quality, audiobox-aesthetics")


def make_alignment(name: str, device: str = "cpu", **params: Any) -> Alignment:
    if name == "laion-clap":
        from data_pipeline.model_graders import ClapAlignment

        return ClapAlignment(device=device, **params)
    if name == "muq-mulan":
        from data_pipeline.model_graders import MuqMulanAlignment

        return MuqMulanAlignment(device=device, **params)
    raise ConfigError(
        f"unknown alignment backend {name!r}; choose from laion-clap, muq-mulan (caption-consistency is "
        "computed in the grade stage itself)"
    )


def zscore(values: pd.Series) -> pd.Series:
    """Standardised over the finite values; a constant metric standardises to 0, missing stays NaN."""
    v = values.astype(float)
    finite = v[np.isfinite(v)]
    if len(finite) == 0:
        return v * np.nan
    std = finite.std(ddof=0)
    return (v - finite.mean()) / std if std > 0 else v.where(~np.isfinite(v), 0.0)


def combine(table: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """Adds ``z_<metric>``, ``score`` (weighted mean of the z-scores present) and ``rank`` (1 = best).

    A segment missing one metric is scored on the others; missing all, its score is NaN and it ranks
    last. Ties share the best rank among them.
    """
    unknown = sorted(set(weights) - set(table.columns))
    if unknown:
        raise ConfigError(f"grade.weights names metrics not in the graded table: {unknown}")
    out = table.copy()
    num = pd.Series(0.0, index=out.index)
    den = pd.Series(0.0, index=out.index)
    for metric, w in weights.items():
        z = zscore(out[metric])
        out[f"z_{metric}"] = z
        present = np.isfinite(z)
        num += np.where(present, w * z.fillna(0.0), 0.0)
        den += np.where(present, w, 0.0)
    out["score"] = np.where(den > 0, num / den.where(den > 0, 1.0), np.nan)
    out["rank"] = out["score"].rank(ascending=False, method="min", na_option="bottom").astype(int)
    return out

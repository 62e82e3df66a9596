"""Source separation backends for the separate stage.

Two backends share one interface (:class:`Separator`): ``(channels, samples)`` in, a dict of stems of
the same shape and rate out.

- ``hpss`` (offline, no download): median-filtering harmonic/percussive separation (Fitzgerald 2010,
  as in ``librosa.decompose.hpss``). Masks are computed once from the channels' summed magnitude and
  applied to every channel, so the stereo image is kept and the cost barely grows with channels.
- ``htdemucs``: Hybrid Transformer Demucs v4 (drums/bass/other/vocals), pretrained weights found
  through the weights registry and unpickled with ``weights_only=True`` and an explicit allowlist.

Later stages (lead-sheet extraction) read the stem named by :data:`HARMONIC_STEM` as the pitched part
of the mix, and the stage flags tracks whose :func:`vocal_energy_ratio` says vocals remain.
"""

from __future__ import annotations

import importlib
import inspect
import os
import random
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from scipy.ndimage import median_filter

from s2acc.audio import crop_or_pad, resample

if TYPE_CHECKING:
    import torch

__all__ = [
    "HARMONIC_STEM",
    "DemucsSeparator",
    "HpssSeparator",
    "Separator",
    "load_demucs_model",
    "make_separator",
    "stem_energy",
    "vocal_energy_ratio",
    "vocal_share",
]

# Which stem each backend offers as the harmonic (pitched, non-drum) part of the mix.
HARMONIC_STEM: dict[str, str] = {"hpss": "harmonic", "htdemucs": "other"}


class Separator(Protocol):
    """A source separation backend: ``(channels, samples)`` at ``sr`` in, stems of that shape out."""

    name: str
    stems: tuple[str, ...]

    def separate(self, audio: np.ndarray, sr: int) -> dict[str, np.ndarray]: ...


def _channels_first(audio: np.ndarray) -> tuple[np.ndarray, bool]:
    """float32 ``(channels, samples)``, and whether the caller gave a 1-D signal."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        return audio[None], True
    if audio.ndim != 2:
        raise ValueError(f"expected (channels, samples) audio, got shape {audio.shape}")
    return audio, False


def _pair(value: Any) -> tuple[Any, Any]:
    return (value[0], value[1]) if isinstance(value, (tuple, list)) else (value, value)


# ------------------------------------------------------------------------------------------ HPSS


def _median_rows(a: np.ndarray, size: int) -> np.ndarray:
    """Median filter along the last axis, row by row.

    Identical to ``median_filter(a, size=(1, size), mode="reflect")``, but SciPy's running-median
    code path only serves 1-D inputs and is several times faster than its n-D path.
    """
    a = np.ascontiguousarray(a)
    if size <= 1:
        return a.copy()
    out = np.empty_like(a)
    for row, dest in zip(a, out, strict=True):
        median_filter(row, size=size, mode="reflect", output=dest)
    return out


def _softmask(x: np.ndarray, ref: np.ndarray, margin: float, power: float, split_zeros: bool) -> np.ndarray:
    """``x**p / (x**p + (margin * ref)**p)``, written as ``1 / (1 + r**p)`` with ``r = margin * ref / x``
    so large magnitudes cannot overflow; where both are zero the mask is 0.5 (``split_zeros``) or 0."""
    if np.isinf(power):
        return (x > margin * ref).astype(x.dtype)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.divide(ref, x)
        if margin != 1:
            ratio *= margin
        if power == 2:
            np.multiply(ratio, ratio, out=ratio)
        elif power != 1:
            np.power(ratio, power, out=ratio)
        ratio += 1
        mask = np.reciprocal(ratio, out=ratio)
    np.nan_to_num(mask, copy=False, nan=0.5 if split_zeros else 0.0)
    return mask


class HpssSeparator:
    """Harmonic/percussive separation by median filtering of the spectrogram (offline backend).

    ``kernel_size`` is (harmonic: frames along time, percussive: bins along frequency), or one int for
    both; ``margin`` (>= 1, one value or a pair) widens the gap between the two: above 1 the parts
    that are neither clearly harmonic nor percussive go to a third stem, ``residual``. The stems always
    sum to the input: the last one is the input minus the others, in the time domain.
    The defaults are chosen for speed on one CPU core (benchmarks/data_pipeline.py measures them).
    """

    name = "hpss"

    def __init__(
        self,
        n_fft: int = 2048,
        hop_length: int = 512,
        kernel_size: int | tuple[int, int] = 31,
        margin: float | tuple[float, float] = 1.0,
        power: float = 2.0,
    ):
        self.n_fft, self.hop_length = int(n_fft), int(hop_length)
        self.kernel_harm, self.kernel_perc = (int(k) for k in _pair(kernel_size))
        self.margin_harm, self.margin_perc = (float(m) for m in _pair(margin))
        self.power = float(power)
        if self.margin_harm < 1 or self.margin_perc < 1:
            raise ValueError(f"hpss margins must be >= 1, got {margin}")
        if not self.power > 0:
            raise ValueError(f"hpss mask power must be > 0, got {power}")
        if min(self.kernel_harm, self.kernel_perc) < 1:
            raise ValueError(f"hpss kernel sizes must be >= 1, got {kernel_size}")
        if not 0 < self.hop_length <= self.n_fft:
            raise ValueError(f"hop_length must be in (0, n_fft], got {hop_length} for n_fft={n_fft}")
        self.residual = self.margin_harm > 1 or self.margin_perc > 1
        self.stems = ("harmonic", "percussive", "residual") if self.residual else ("harmonic", "percussive")

    def masks(self, magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Soft masks (harmonic, percussive) for a ``(freq, frames)`` magnitude.

        The same masks as ``librosa.decompose.hpss(..., mask=True)``, computed in fewer passes.
        """
        harm = _median_rows(magnitude, self.kernel_harm)
        perc = _median_rows(magnitude.T, self.kernel_perc).T
        return (
            _softmask(harm, perc, self.margin_harm, self.power, split_zeros=not self.residual),
            _softmask(perc, harm, self.margin_perc, self.power, split_zeros=not self.residual),
        )

    def separate(self, audio: np.ndarray, sr: int) -> dict[str, np.ndarray]:
        import librosa

        x, flat = _channels_first(audio)
        n = x.shape[-1]
        if n == 0:
            stems = dict.fromkeys(self.stems, x)
        else:
            spec = librosa.stft(x, n_fft=self.n_fft, hop_length=self.hop_length)
            mask_h, mask_p = self.masks(np.abs(spec).sum(axis=0))

            def inverse(mask: np.ndarray) -> np.ndarray:
                return librosa.istft(spec * mask, hop_length=self.hop_length, n_fft=self.n_fft, length=n)

            harmonic = inverse(mask_h)
            if self.residual:
                percussive = inverse(mask_p)
                stems = {
                    "harmonic": harmonic,
                    "percussive": percussive,
                    "residual": x - harmonic - percussive,
                }
            else:
                stems = {"harmonic": harmonic, "percussive": x - harmonic}
        return {k: (v[0] if flat else v).astype(np.float32, copy=False) for k, v in stems.items()}


# ------------------------------------------------------------------------------------------ Demucs

# Globals a Demucs model package may reference: the model class, its Fraction segment length, and the
# numpy scalars found in its training arguments. Anything else is refused before unpickling.
_DEMUCS_GLOBALS = {
    "demucs.htdemucs.HTDemucs",
    "fractions.Fraction",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.dtype",
}
_NUMPY_DTYPE_CLASS = re.compile(r"^numpy\.dtypes\.\w+DType$")


def _import_global(name: str) -> Any:
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def load_demucs_model(path: str | os.PathLike) -> torch.nn.Module:
    """An HTDemucs model from a Demucs package file (``{klass, args, kwargs, state, ...}``).

    Reads the file the way ``demucs.states.load_model`` does, but never with full unpickling: the
    globals the file references are listed first and only the allowlisted ones are admitted, then the
    state dict is loaded strictly (a missing or unexpected key is an error).
    """
    import torch
    from demucs.htdemucs import HTDemucs

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Demucs weights file not found: {path}")
    try:
        referenced = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception as err:  # legacy (non-zip) or corrupt files cannot be inspected safely
        raise ValueError(f"{path}: not a readable torch package ({err})") from err
    refused = sorted(g for g in referenced if g not in _DEMUCS_GLOBALS and not _NUMPY_DTYPE_CLASS.match(g))
    if refused:
        raise ValueError(
            f"{path}: refusing to unpickle, it references globals outside the allowlist: {refused}"
        )
    allowed = [(_import_global(g), g) for g in sorted(referenced)]
    if "numpy.dtype" in referenced:
        # Unpickling a dtype yields an instance of its class (``numpy.dtypes.Float64DType``, ...), whose
        # state is then set: those classes must be admitted although the file never names them.
        import numpy.dtypes

        allowed += [
            cls
            for name, cls in vars(numpy.dtypes).items()
            if _NUMPY_DTYPE_CLASS.match(f"numpy.dtypes.{name}")
        ]
    with torch.serialization.safe_globals(allowed):
        package = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(package, dict) or not {"klass", "args", "kwargs", "state"} <= package.keys():
        raise ValueError(f"{path}: not a Demucs model package (keys klass, args, kwargs, state expected)")
    klass = package["klass"]
    if not (isinstance(klass, type) and issubclass(klass, HTDemucs)):
        raise ValueError(f"{path}: holds a {klass!r}, not an HTDemucs model")
    kwargs = dict(package["kwargs"])
    accepted = inspect.signature(klass).parameters
    for key in [k for k in kwargs if k not in accepted]:
        warnings.warn(f"{path}: dropping constructor argument {key!r} unknown to this demucs", stacklevel=2)
        del kwargs[key]
    state = package["state"]
    if state.get("__quantized"):
        raise ValueError(f"{path}: quantized (diffq) Demucs packages are not supported")
    model = klass(*package["args"], **kwargs)
    model.load_state_dict(state, strict=True)
    return model.float().eval()


class DemucsSeparator:
    """HTDemucs separation into drums/bass/other/vocals.

    ``model`` is an already built model (e.g. random weights in tests), a package file, or None for
    the registry's ``htdemucs`` weights (a missing file fails here, with the registry's message).
    Inference follows ``demucs.apply.apply_model``: windows of ``segment`` seconds (the model's
    training length by default) overlapping by ``overlap`` and cross-faded; ``shifts`` > 0 averages
    randomly time-shifted passes, made reproducible with ``seed``; ``split=False`` runs one pass over
    the whole input (only for models that accept any length).
    """

    name = "htdemucs"

    def __init__(
        self,
        model: torch.nn.Module | str | os.PathLike | None = None,
        device: str = "cpu",
        segment: float | None = None,
        overlap: float = 0.25,
        shifts: int = 0,
        split: bool = True,
        seed: int = 0,
    ):
        import torch

        if model is None:
            from s2acc.hub import resolve

            model = resolve("htdemucs")
        if isinstance(model, (str, os.PathLike)):
            model = load_demucs_model(model)
        self.device = torch.device(device)
        self.model = model.to(device=self.device, dtype=torch.float32).eval()
        self.stems = tuple(self.model.sources)
        self.samplerate = int(self.model.samplerate)
        self.audio_channels = int(self.model.audio_channels)
        max_segment = float(getattr(self.model, "segment", float("inf")))
        if segment is not None and segment > max_segment:
            raise ValueError(
                f"segment {segment} s is longer than the model's training length {max_segment} s"
            )
        if not 0 <= overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        self.segment, self.overlap, self.shifts = segment, float(overlap), int(shifts)
        self.split, self.seed = bool(split), int(seed)

    def _run(self, wav: torch.Tensor) -> torch.Tensor:
        from demucs.apply import apply_model

        state = random.getstate()  # apply_model draws its shifts from the global generator
        random.seed(self.seed)
        try:
            return apply_model(
                self.model,
                wav[None],
                shifts=self.shifts,
                split=self.split,
                overlap=self.overlap,
                segment=self.segment,
                device=self.device,
                progress=False,
            )[0]
        finally:
            random.setstate(state)

    def separate(self, audio: np.ndarray, sr: int) -> dict[str, np.ndarray]:
        import torch

        x, flat = _channels_first(audio)
        channels, n = x.shape
        if channels not in (1, self.audio_channels):
            raise ValueError(f"htdemucs takes mono or {self.audio_channels}-channel audio, got {channels}")
        if n == 0:
            return {s: (x[0] if flat else x).copy() for s in self.stems}
        wav = np.repeat(x, self.audio_channels, axis=0) if channels == 1 else x
        wav = resample(wav, sr, self.samplerate)
        # Work at unit scale, as Demucs's own front end does; the offset is shared out between stems.
        mono = wav.mean(axis=0)
        mean, std = float(mono.mean()), float(mono.std()) + 1e-8
        tensor = torch.from_numpy((wav - mean) / std).to(self.device, torch.float32)
        with torch.inference_mode():
            out = self._run(tensor)
        out = (out.float().cpu().numpy() * std + mean / len(self.stems)).astype(np.float32)
        sources, chans, length = out.shape
        out = resample(out.reshape(sources * chans, length), self.samplerate, sr)
        out = crop_or_pad(out, n).reshape(sources, chans, n)
        if channels == 1:
            out = out.mean(axis=1, keepdims=True)
        return {s: (out[i, 0] if flat else out[i]).copy() for i, s in enumerate(self.stems)}


# ------------------------------------------------------------------------------------------ shared


def make_separator(name: str, device: str = "cpu", **params: Any) -> Separator:
    """The backend called ``name`` ("hpss" | "htdemucs"), built with its config ``params``."""
    if name == "hpss":
        return HpssSeparator(**params)
    if name == "htdemucs":
        return DemucsSeparator(device=device, **params)
    raise ValueError(f"unknown separation backend {name!r}; choose one of {', '.join(HARMONIC_STEM)}")


def stem_energy(stem: np.ndarray) -> float:
    """Sum of squares of a stem (or of a window of it); non-finite samples count as silence, so a
    damaged stem cannot turn the ratio into NaN."""
    clean = np.nan_to_num(np.asarray(stem, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0).ravel()
    return float(np.dot(clean, clean))


def vocal_share(energies: dict[str, float]) -> float:
    """Share of the stems' total energy in ``vocals`` (0 when there is none), from per-stem energies
    (summed over a track's windows)."""
    if "vocals" not in energies:
        return 0.0
    total = sum(energies.values())
    if not np.isfinite(total) or total <= 0:
        return 0.0
    return float(min(1.0, energies["vocals"] / total))


def vocal_energy_ratio(stems: dict[str, np.ndarray]) -> float:
    """Share of the stems' total energy in the ``vocals`` stem (0 when there is none)."""
    return vocal_share({k: stem_energy(v) for k, v in stems.items()})

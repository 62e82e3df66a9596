"""Audio I/O and the few signal operations every stage shares.

Arrays are float32, channels first: ``(channels, samples)``. Reading goes through soundfile
(libsndfile: wav, flac, ogg/vorbis, mp3), resampling through soxr. torchaudio is deliberately
not used: it has no build that pairs with the CPU torch this project installs.

Every way an input can be unusable (missing, unreadable, not audio, empty, NaN/inf) raises
:class:`AudioError`, whose message names the file and the reason, so a batch job can record the
item and carry on.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import lfilter

__all__ = [
    "AUDIO_SUFFIXES",
    "AudioError",
    "AudioInfo",
    "crop_or_pad",
    "info",
    "integrated_loudness",
    "mono_samples",
    "normalize_loudness",
    "read_audio",
    "read_blocks",
    "read_frames",
    "resample",
    "StreamWriter",
    "to_mono",
    "to_stereo",
    "windows",
    "write_audio",
]

SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "float": "FLOAT"}
FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3", ".aiff": "AIFF", ".aif": "AIFF"}
AUDIO_SUFFIXES = tuple(FORMATS)  # what reading and writing support


class AudioError(ValueError):
    """An audio file or array that cannot be used, with the path (or name) and the reason."""

    def __init__(self, path: str | os.PathLike | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path or '<array>'}: {reason}")


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read without decoding the samples."""

    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def _open_checked(path: Path) -> sf.SoundFile:
    if not path.exists():
        raise AudioError(path, "file does not exist")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    try:
        return sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(path, f"not a readable audio file ({err})") from err


def info(path: str | os.PathLike) -> AudioInfo:
    """Header facts without decoding the samples (frames may be approximate for mp3)."""
    path = Path(path)
    with _open_checked(path) as f:
        return AudioInfo(int(f.samplerate), int(f.channels), int(f.frames))


def check_audio(audio: np.ndarray, path: str | os.PathLike | None = None) -> np.ndarray:
    """Validate a ``(channels, samples)`` float array: non-empty and finite."""
    audio = np.asarray(audio)
    if audio.ndim != 2:
        raise AudioError(path, f"expected (channels, samples), got shape {audio.shape}")
    if audio.shape[0] == 0 or audio.shape[1] == 0:
        raise AudioError(path, "audio is empty (no samples)")
    if not np.issubdtype(audio.dtype, np.floating):
        raise AudioError(path, f"expected floating-point samples, got {audio.dtype}")
    if not np.isfinite(audio).all():
        raise AudioError(path, "audio contains NaN or infinite samples")
    return audio


def read_frames(path: str | os.PathLike, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, int]:
    """Frames ``[start, stop)`` of a file at its own rate as float32 ``(channels, n)`` (an empty span
    gives n = 0, unchecked), and that rate; soundfile seeks exactly, mp3 included."""
    path = Path(path)
    with _open_checked(path) as f:
        native_sr = int(f.samplerate)
        try:
            if start:
                f.seek(start)
            data = f.read(
                frames=-1 if stop is None else max(0, stop - start), dtype="float32", always_2d=True
            )
        except (sf.LibsndfileError, RuntimeError) as err:
            raise AudioError(path, f"decoding failed ({err})") from err
    return np.ascontiguousarray(data.T), native_sr


def read_audio(
    path: str | os.PathLike,
    sr: int | None = None,
    mono: bool = False,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """Read a file as float32 ``(channels, samples)``; optionally a window, resampled, mixed to mono."""
    start, stop = 0, None
    if offset or duration is not None:
        rate = info(path).sample_rate
        start = int(round(offset * rate))
        stop = None if duration is None else start + int(round(duration * rate))
    data, native_sr = read_frames(path, start, stop)
    audio = check_audio(data, path)
    if mono:
        audio = to_mono(audio)
    if sr is not None and sr != native_sr:
        audio = resample(audio, native_sr, sr)
        native_sr = sr
    return audio, native_sr


def read_blocks(path: str | os.PathLike, block_frames: int) -> Iterator[np.ndarray]:
    """The file's samples in order, as float32 ``(channels, n)`` blocks at its own rate.

    Streamed: an hour-long file costs one block of memory. Decoding errors raise :class:`AudioError`.
    """
    path = Path(path)
    with _open_checked(path) as f:
        while True:
            try:
                data = f.read(frames=block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as err:
                raise AudioError(path, f"decoding failed ({err})") from err
            if not len(data):
                return
            yield np.ascontiguousarray(data.T)


class StreamWriter:
    """Float audio written block by block as it is produced, moved into place only when complete.

    For signals too long to hold (the stems of an hour-long recording): blocks go straight to disk,
    and a file past WAV's 4 GiB limit is written as RF64, which soundfile reads the same way.
    """

    WAV_LIMIT = 2**32 - 2**20  # bytes: stay clear of the 32-bit RIFF size field

    def __init__(self, path: str | os.PathLike, sr: int, channels: int, frames: int):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fmt = "WAV" if frames * channels * 4 < self.WAV_LIMIT else "RF64"
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".wav", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self.file = sf.SoundFile(tmp, "w", samplerate=sr, channels=channels, format=fmt, subtype="FLOAT")

    def write(self, block: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(np.asarray(block, np.float32).T))

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(self, kind, value, trace) -> None:
        self.file.close()
        if kind is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def write_audio(
    path: str | os.PathLike,
    audio: np.ndarray,
    sr: int,
    bits: str = "16",
    compression: float | None = None,
) -> Path:
    """Write ``(channels, samples)`` audio atomically; the format follows the extension.

    ``bits`` is "16", "24" or "float" for WAV/FLAC (FLAC has no float); OGG and MP3 are lossy and
    ignore it. ``compression`` (0 to 1) trades quality for size in OGG and MP3 (libsndfile's compression
    level; its default when None). Samples beyond [-1, 1] are clipped by libsndfile for integer formats.
    """
    path = Path(path)
    audio = check_audio(np.asarray(audio, dtype=np.float32), path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise AudioError(path, f"unsupported extension {path.suffix!r}; use one of {sorted(FORMATS)}")
    if bits not in SUBTYPES:
        raise AudioError(path, f"bits must be one of {sorted(SUBTYPES)}, got {bits!r}")
    subtype = {"OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}.get(fmt, SUBTYPES[bits])
    if fmt == "FLAC" and subtype == "FLOAT":
        raise AudioError(path, "FLAC cannot store float samples; use bits='16' or '24'")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        level = {} if compression is None else {"compression_level": compression}
        sf.write(tmp, audio.T, sr, format=fmt, subtype=subtype, **level)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def resample(audio: np.ndarray, orig_sr: int, target_sr: int, quality: str = "HQ") -> np.ndarray:
    """Band-limited resampling with soxr (not the FAD resampler: eval reproduces fadtk's own)."""
    if orig_sr == target_sr:
        return audio
    out = soxr.resample(np.ascontiguousarray(audio.T), orig_sr, target_sr, quality=quality)
    return np.ascontiguousarray(out.T, dtype=np.float32)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average the channels, keeping a channel axis of size 1."""
    return audio.mean(axis=0, keepdims=True, dtype=np.float32)


def mono_samples(audio: np.ndarray) -> np.ndarray:
    """A float32 ``(samples,)`` signal from ``(samples,)`` or ``(channels, samples)`` audio (channel mean)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        return audio
    if audio.ndim == 2:
        return audio.mean(axis=0)
    raise ValueError(f"audio must be (samples,) or (channels, samples), got shape {audio.shape}")


def to_stereo(audio: np.ndarray) -> np.ndarray:
    """Duplicate mono to two channels; downmix more than two by averaging into both."""
    if audio.shape[0] == 2:
        return audio
    mono = to_mono(audio)
    return np.concatenate([mono, mono], axis=0)


def crop_or_pad(audio: np.ndarray, length: int, offset: int = 0) -> np.ndarray:
    """Exactly ``length`` samples starting at ``offset``, zero-padded at the end when short."""
    out = audio[:, offset : offset + length]
    if out.shape[1] < length:
        out = np.pad(out, ((0, 0), (0, length - out.shape[1])))
    return out


def _k_weighting(sr: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """ITU-R BS.1770 K-weighting (shelf + high-pass) designed for any sample rate."""
    # Shelving stage.
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * f0 / sr)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = (
        np.array([vh + vb * k / q + k * k, 2 * (k * k - vh), vh - vb * k / q + k * k]) / a0,
        np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]),
    )
    # High-pass stage.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * f0 / sr)
    a0 = 1 + k / q + k * k
    highpass = (
        np.array([1.0, -2.0, 1.0]),
        np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]),
    )
    return [shelf, highpass]


def integrated_loudness(audio: np.ndarray, sr: int) -> float:
    """Integrated loudness in LUFS (BS.1770-4 gating, channel weights 1); -inf for silence."""
    x = np.asarray(audio, dtype=np.float64)
    for b, a in _k_weighting(sr):
        x = lfilter(b, a, x, axis=1)
    block, hop = int(round(0.4 * sr)), int(round(0.1 * sr))
    if x.shape[1] < block:
        x = np.pad(x, ((0, 0), (0, block - x.shape[1])))
    power = x**2
    csum = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(power, axis=1)], axis=1)
    starts = np.arange(0, x.shape[1] - block + 1, hop)
    z = (csum[:, starts + block] - csum[:, starts]) / block  # (channels, blocks)
    block_power = z.sum(axis=0)
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10 * np.log10(block_power)
    gated = block_lufs > -70.0
    if not gated.any():
        return float("-inf")
    relative = -0.691 + 10 * np.log10(block_power[gated].mean()) - 10.0
    gated &= block_lufs > relative
    return float(-0.691 + 10 * np.log10(block_power[gated].mean()))


def normalize_loudness(
    audio: np.ndarray, sr: int, target_lufs: float = -14.0, peak_limit: float = 0.99
) -> np.ndarray:
    """Scale to ``target_lufs``; the gain is lowered if needed so the peak stays under ``peak_limit``."""
    current = integrated_loudness(audio, sr)
    if not np.isfinite(current):
        return audio
    gain = 10 ** ((target_lufs - current) / 20)
    peak = float(np.abs(audio).max()) * gain
    if peak > peak_limit:
        gain *= peak_limit / peak
    return (audio * gain).astype(np.float32)


def windows(n: int, window: int, context: int = 0) -> list[tuple[int, int, int, int]]:
    """``(lo, start, stop, hi)`` for consecutive windows ``[start, stop)`` of ``window`` samples covering
    ``n`` samples, each to be read with up to ``context`` samples either side: ``[lo, hi)``. A track no
    longer than one window is a single window without context, the whole-file path."""
    if n <= window:
        return [(0, 0, n, n)]
    out = []
    for start in range(0, n, window):
        stop = min(n, start + window)
        out.append((max(0, start - context), start, stop, min(n, stop + context)))
    return out

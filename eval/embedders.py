"""Audio embedders for FAD, in a registry so every printed FAD can name the one it used.

``clap-laion-music`` reproduces fadtk's model of that name, the challenge's: each step below is what
fadtk does, in its order.

1. Mix to mono by averaging the channels.
2. Resample to 48 kHz with torchaudio's ``Resample`` transform: a Kaiser-windowed sinc with
   ``lowpass_filter_width=64``, ``rolloff=0.9475937167399596``, ``beta=14.769656459379492``, kernel
   computed in float64 and applied in float32. torchaudio has no build for this project's CPU torch,
   so :func:`kaiser_sinc_resample` computes the same filter bank and polyphase convolution with torch.
   Another resampler is not a stand-in: soxr moves the FAD by about 10% of its value.
3. Store as 16-bit PCM and read back: fadtk caches the resampled audio as a WAV written through
   libsndfile, whose float-to-int16 rule is ``clip(floor(rint(y * 2^31) / 65536), -32768, 32767)``,
   and reads it as int16 / 32768.
4. laion_clap's quantisation: clip to [-1, 1], multiply by 32767, truncate to int16, divide by 32767.
5. Windows of 10 s (480,000 samples) starting every 1 s, ceil(length / 1 s) of them; a window that
   runs past the end is zero-padded. Nothing is dropped and short files are not padded to 10 s
   beyond their one window.
6. Each window through ``get_audio_embedding_from_data``: 512-d, L2-normalised by laion_clap.
7. fadtk stores the embeddings as float16; :func:`eval.fad.stats_from_embeddings` rounds the same way.

``mel-stats`` is the offline embedder (no weights): the same windows, each described by the mean and
standard deviation of its 64-band log-mel spectrogram (128-d). It measures timbre and loudness
distributions, so its FAD is meaningful for comparing systems, but its values are not comparable with
CLAP FADs; every report names the embedder.
"""

from __future__ import annotations

import hashlib
import math
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from s2acc.audio import mono_samples, resample
from s2acc.clap import CLAP_SR, CLAP_WINDOW

HOP_SECONDS = 1.0
PCM_BITS = 16  # fadtk's WAV cache of the resampled audio
LAION_INT16_SCALE = 32767.0  # laion_clap's int16 quantisation scale
RESAMPLE_WIDTH = 64  # torchaudio lowpass_filter_width: zero crossings each side
RESAMPLE_ROLLOFF = 0.9475937167399596  # cut-off as a share of the lower Nyquist rate
RESAMPLE_BETA = 14.769656459379492  # Kaiser window shape


class Embedder(Protocol):
    name: str
    checkpoint_sha256: str | None

    def embed(self, audio: np.ndarray, sr: int) -> np.ndarray: ...


def pcm16_round_trip(x: np.ndarray) -> np.ndarray:
    """What libsndfile's 16-bit WAV write and an int16 / 32768 read leave of float audio (step 3).

    libsndfile scales to 32 bits with rounding, then keeps the top 16 (an arithmetic shift, so a
    floor): tiny negative values become -1, not 0.
    """
    full_scale = 2.0 ** (PCM_BITS - 1)
    wide = np.rint(np.asarray(x, np.float64) * 2.0**31)
    q = np.clip(np.floor(wide / 2.0 ** (32 - PCM_BITS)), -full_scale, full_scale - 1)
    return (q / full_scale).astype(np.float32)


@cache  # one bank per rate pair, shared by every clip
def kaiser_sinc_kernel(orig: int, new: int) -> tuple[np.ndarray, int]:
    """torchaudio's ``sinc_interp_kaiser`` filter bank for reduced rates ``orig`` -> ``new``.

    Row ``j`` (one per output phase) holds the taps for input offsets ``i / orig`` around output time
    ``j / new``: a sinc with cut-off ``min(orig, new) * ROLLOFF`` under a Kaiser window, both spanning
    ``RESAMPLE_WIDTH`` zero crossings. Returns the (new, 2 * width + orig) float32 bank and ``width``.
    """
    cutoff = min(orig, new) * RESAMPLE_ROLLOFF
    width = int(np.ceil(RESAMPLE_WIDTH * orig / cutoff))
    offsets = np.arange(-width, width + orig, dtype=np.float64) / orig
    t = (offsets[None, :] - np.arange(new, dtype=np.float64)[:, None] / new) * cutoff
    t = np.clip(t, -RESAMPLE_WIDTH, RESAMPLE_WIDTH)
    window = np.i0(RESAMPLE_BETA * np.sqrt(1 - (t / RESAMPLE_WIDTH) ** 2)) / np.i0(RESAMPLE_BETA)
    sinc = np.sinc(t)  # sin(pi t) / (pi t), 1 at 0
    return (sinc * window * cutoff / orig).astype(np.float32), width


def kaiser_sinc_resample(x: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """Step 2 for mono float32 ``x``: each output phase is a strided float32 convolution of the input,
    padded by ``width`` before and ``width + orig`` after; ``ceil(len * new / orig)`` samples kept."""
    import torch

    if sr == target_sr:
        return np.asarray(x, np.float32)
    g = math.gcd(int(sr), int(target_sr))
    orig, new = int(sr) // g, int(target_sr) // g
    bank, width = kaiser_sinc_kernel(orig, new)
    signal = torch.nn.functional.pad(
        torch.as_tensor(np.asarray(x, np.float32))[None, None], (width, width + orig)
    )
    with torch.no_grad():
        phases = torch.nn.functional.conv1d(signal, torch.from_numpy(bank)[:, None], stride=orig)
    out = phases[0].T.reshape(-1).numpy()  # interleave the phases: frame f, phase j -> f * new + j
    return out[: math.ceil(new * len(x) / orig)].copy()


def laion_quantize(x: np.ndarray) -> np.ndarray:
    """laion_clap's int16 round trip (step 4): truncation toward zero, scale 32767."""
    q = (np.clip(x, -1.0, 1.0) * LAION_INT16_SCALE).astype(np.int16)
    return (q / LAION_INT16_SCALE).astype(np.float32)


def fadtk_clap_audio(audio: np.ndarray, sr: int) -> np.ndarray:
    """Steps 1-4: the mono 48 kHz float32 signal fadtk's CLAP model windows."""
    mono = mono_samples(audio)
    return laion_quantize(pcm16_round_trip(kaiser_sinc_resample(mono, sr, CLAP_SR)))


def windows(x: np.ndarray, sr: int, window: int, hop_seconds: float = HOP_SECONDS) -> np.ndarray:
    """Step 5: (ceil(len / hop), window) windows starting every ``hop``, zero-padded past the end."""
    hop = int(round(hop_seconds * sr))
    n = max(1, int(np.ceil(len(x) / hop)))
    padded = np.zeros(hop * (n - 1) + window, np.float32)
    padded[: len(x)] = x
    return np.lib.stride_tricks.sliding_window_view(padded, window)[::hop][:n].copy()


class ClapEmbedder:
    """LAION-CLAP music (HTSAT-base, no fusion) window embeddings, as fadtk's ``clap-laion-music``."""

    name = "clap-laion-music"

    def __init__(self, device: str = "cpu", batch_size: int = 8, model_obj: Any = None) -> None:
        from s2acc.clap import load_clap

        self.device = device
        self.batch_size = int(batch_size)
        self.model = model_obj if model_obj is not None else load_clap(device=device)
        self.checkpoint_sha256 = None if model_obj is not None else _registry_sha("clap-laion-music")

    def embed(self, audio: np.ndarray, sr: int) -> np.ndarray:
        import torch

        chunks = windows(fadtk_clap_audio(audio, sr), CLAP_SR, CLAP_WINDOW)
        out = []
        with torch.no_grad():
            for i in range(0, len(chunks), self.batch_size):
                batch = torch.from_numpy(chunks[i : i + self.batch_size]).to(self.device)
                out.append(self.model.get_audio_embedding_from_data(batch, use_tensor=True).float().cpu())
        return torch.cat(out).numpy()

    def embed_text(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model.get_text_embedding(list(texts), use_tensor=True).float().cpu().numpy()


class MelStatsEmbedder:
    """Offline: per 10 s window, the mean and std of each of 64 log-mel bands (16 kHz analysis)."""

    name = "mel-stats"
    checkpoint_sha256 = None
    SR, N_FFT, HOP, N_MELS = 16000, 1024, 320, 64

    def __init__(self) -> None:
        import librosa

        self._mel = librosa.filters.mel(sr=self.SR, n_fft=self.N_FFT, n_mels=self.N_MELS).astype(np.float32)
        self._window = np.hanning(self.N_FFT + 1)[:-1].astype(np.float32)

    def embed(self, audio: np.ndarray, sr: int) -> np.ndarray:
        mono = mono_samples(audio)
        if sr != self.SR:
            mono = resample(mono[None], sr, self.SR)[0]
        feats = []
        for w in windows(mono, self.SR, 10 * self.SR):
            frames = np.lib.stride_tricks.sliding_window_view(w, self.N_FFT)[:: self.HOP]
            power = np.abs(np.fft.rfft(frames * self._window, axis=1)) ** 2
            logmel = np.log10(power @ self._mel.T + 1e-10)
            feats.append(np.concatenate([logmel.mean(axis=0), logmel.std(axis=0)]))
        return np.asarray(feats, np.float32)


EMBEDDERS = {"clap-laion-music": ClapEmbedder, "mel-stats": MelStatsEmbedder}


def make_embedder(name: str, **params: Any) -> Embedder:
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedder {name!r}; choose from {', '.join(EMBEDDERS)}")
    return EMBEDDERS[name](**params)


def _registry_sha(name: str) -> str | None:
    from s2acc.hub import default_registry

    return default_registry()[name].sha256


class EmbeddingCache:
    """Embeddings on disk, keyed by the audio's content hash and the embedder (name and checkpoint)."""

    def __init__(self, folder: str | Path, embedder: Embedder) -> None:
        tag = embedder.name + (f"-{embedder.checkpoint_sha256[:12]}" if embedder.checkpoint_sha256 else "")
        self.folder = Path(folder) / tag
        self.embedder = embedder

    @staticmethod
    def key(audio: np.ndarray, sr: int) -> str:
        a = np.ascontiguousarray(audio, np.float32)
        return hashlib.sha256(f"{sr}:{a.shape}".encode() + a.tobytes()).hexdigest()

    def embed(self, audio: np.ndarray, sr: int) -> np.ndarray:
        path = self.folder / f"{self.key(audio, sr)}.npy"
        if path.exists():
            return np.load(path)
        emb = self.embedder.embed(audio, sr)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, emb)
        tmp.replace(path)
        return emb


def embed_files(
    files: list[Path],
    embedder: Embedder,
    cache_root: str | Path,
    seconds: float | None = None,
    progress: bool = True,
) -> list[np.ndarray]:
    """Each file's window embeddings (its first ``seconds`` when given), through the content cache."""
    from tqdm import tqdm

    from s2acc.audio import read_audio

    cache = EmbeddingCache(cache_root, embedder)
    out = []
    for path in tqdm(files, desc="embedding", unit="file", disable=not progress):
        audio, sr = read_audio(path, duration=seconds)
        out.append(cache.embed(audio, sr))
    return out

"""Reconstruction losses and metrics for the VAE.

- :func:`mrstft_loss`: multi-resolution STFT loss (spectral convergence + log-magnitude L1 at several
  window sizes), stereo-aware as in Stable Audio's autoencoder training: it is computed on the mid
  (L + R) and side (L - R) signals, so errors in the stereo image count as well as errors in level.
- :func:`si_sdr` and :func:`mel_l1`: held-out reconstruction metrics for ``s2acc vae eval``.
"""

from __future__ import annotations

import functools
import math

import torch
from torch.nn import functional as F

from s2acc.rates import SAMPLE_RATE

FFT_SIZES = (2048, 1024, 512, 256, 128, 64, 32)


@functools.cache
def _window(n: int, device: str, dtype: torch.dtype) -> torch.Tensor:
    return torch.hann_window(n, device=device, dtype=dtype)


def _magnitude(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    """|STFT| of (batch, samples), hop n_fft/4."""
    x = x.float()  # stft has no bf16 kernel everywhere, and the loss wants full precision anyway
    spec = torch.stft(
        x, n_fft, hop_length=n_fft // 4, window=_window(n_fft, str(x.device), x.dtype), return_complex=True
    )
    return spec.abs()


def stft_loss(
    pred: torch.Tensor, target: torch.Tensor, fft_sizes=FFT_SIZES, reference: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean over resolutions of spectral convergence + log-magnitude L1, for (batch, samples).

    ``reference`` (batch, samples), default the target, sets the scale the loss cares about: the
    convergence denominator is at least 1% of its spectral norm (and never below that of -60 dBFS
    noise, so silence is scored, not divided by), and the log compares magnitudes
    offset by 1e-4 of its peak (-80 dB), so bins far below the music (or the zero side signal of a
    mono source) do not dominate with the log of rounding noise.
    """
    reference = target if reference is None else reference
    total = pred.new_zeros(())
    for n in fft_sizes:
        p, t, r = _magnitude(pred, n), _magnitude(target, n), _magnitude(reference, n).detach()
        # Absolute floor: the spectral norm of white noise at -60 dBFS RMS (a Hann window's squared sum
        # is 0.375 n), so a silent crop scores its reconstruction's level instead of dividing by zero.
        floor = 1e-3 * math.sqrt(0.375 * n * t.shape[-2] * t.shape[-1])
        denom = torch.maximum(torch.linalg.norm(t, dim=(-2, -1)), 0.01 * torch.linalg.norm(r, dim=(-2, -1)))
        convergence = torch.linalg.norm(t - p, dim=(-2, -1)) / denom.clamp(min=floor)
        eps = 1e-4 * r.amax(dim=(-2, -1), keepdim=True).clamp(min=1e-5)
        log_l1 = F.l1_loss(torch.log(p + eps), torch.log(t + eps))
        total = total + convergence.mean() + log_l1
    return total / len(fft_sizes)


def mrstft_loss(pred: torch.Tensor, target: torch.Tensor, fft_sizes=FFT_SIZES) -> torch.Tensor:
    """For (batch, channels, samples); stereo input is scored on mid and side, mono on itself.

    The side term is scaled by the mid (see :func:`stft_loss`), so a near-mono target does not turn
    inaudible side errors into huge losses.
    """
    if pred.shape != target.shape:
        raise ValueError(f"shape mismatch: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.shape[1] == 2:
        mid_p, mid_t = pred.sum(1), target.sum(1)
        side_p, side_t = pred[:, 0] - pred[:, 1], target[:, 0] - target[:, 1]
        return stft_loss(mid_p, mid_t, fft_sizes) + stft_loss(side_p, side_t, fft_sizes, reference=mid_t)
    return stft_loss(pred.flatten(0, 1), target.flatten(0, 1), fft_sizes)


def si_sdr(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SDR in dB per (batch, channel) signal."""
    target = target - target.mean(-1, keepdim=True)
    pred = pred - pred.mean(-1, keepdim=True)
    scale = (pred * target).sum(-1, keepdim=True) / (target.pow(2).sum(-1, keepdim=True) + eps)
    projection = scale * target
    noise = pred - projection
    return 10 * torch.log10(projection.pow(2).sum(-1) / (noise.pow(2).sum(-1) + eps) + eps)


@functools.cache
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> torch.Tensor:
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)).float()


def mel_l1(
    pred: torch.Tensor, target: torch.Tensor, sr: int = SAMPLE_RATE, n_fft: int = 2048, n_mels: int = 80
):
    """L1 distance of log10 mel spectrograms (the usual vocoder / codec metric), averaged."""
    basis = _mel_basis(sr, n_fft, n_mels).to(pred.device)
    p = torch.log10(basis @ _magnitude(pred.flatten(0, 1).float(), n_fft) + 1e-5)
    t = torch.log10(basis @ _magnitude(target.flatten(0, 1).float(), n_fft) + 1e-5)
    return F.l1_loss(p, t)

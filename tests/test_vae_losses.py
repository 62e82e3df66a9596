"""VAE reconstruction losses and metrics on signals with known relationships."""

from __future__ import annotations

import math

import pytest
import torch

from s2acc.vae.losses import mel_l1, mrstft_loss, si_sdr

SR = 44100


def tone(f: float = 440.0, seconds: float = 0.5, channels: int = 2) -> torch.Tensor:
    """A harmonic tone over a faint fixed noise floor: every STFT bin holds some energy, as in music."""
    t = torch.arange(int(seconds * SR)) / SR
    x = sum(0.3 / k * torch.sin(2 * math.pi * k * f * t) for k in range(1, 6))
    floor = 0.003 * torch.randn(len(t), generator=torch.Generator().manual_seed(9))
    return (x + floor).repeat(1, channels, 1)


def test_mrstft_is_zero_for_identity_and_grows_with_error():
    x = tone()
    assert mrstft_loss(x, x).item() == pytest.approx(0.0, abs=1e-5)
    torch.manual_seed(0)
    noise = torch.randn(1, 1, x.shape[-1])  # the same in both channels: the stereo image is kept
    small = mrstft_loss(x + 0.001 * noise, x)
    large = mrstft_loss(x + 0.05 * noise, x)
    assert 0 < small < large
    assert mrstft_loss(tone(880.0), x) > small  # a different pitch is far
    assert mrstft_loss(x + 0.001 * torch.randn_like(x), x) > small  # decorrelated noise widens the image


def test_mrstft_sees_the_stereo_image():
    x = tone()
    swapped = x.clone()
    swapped[:, 1] *= -1  # same channel levels, inverted side: the image changed
    assert mrstft_loss(swapped, x) > 1.0
    assert mrstft_loss(x[:, :1], x[:, :1]).item() == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="shape"):
        mrstft_loss(x, x[:, :1])


def test_mrstft_has_gradients():
    x = tone()
    pred = (x + 0.01 * torch.randn_like(x)).requires_grad_(True)
    mrstft_loss(pred, x).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_si_sdr_is_scale_invariant_and_tracks_noise():
    x = tone()
    torch.manual_seed(1)
    noise = torch.randn_like(x)
    assert (si_sdr(0.3 * x, x) > 60).all()  # scaling costs nothing
    ten_db = x + noise * x.pow(2).mean().sqrt() / noise.pow(2).mean().sqrt() * 10 ** (-10 / 20)
    assert si_sdr(ten_db, x).mean().item() == pytest.approx(10.0, abs=0.3)


def test_mel_l1_orders_reconstructions():
    x = tone()
    assert mel_l1(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert mel_l1(x + 0.01 * torch.randn_like(x), x) < mel_l1(tone(660.0), x)


def test_a_silent_target_gives_a_bounded_loss_that_prefers_silence():
    silent = torch.zeros(2, 2, 22050)
    quiet = 1e-3 * torch.randn(2, 2, 22050)
    loud = 0.5 * torch.randn(2, 2, 22050)
    assert float(mrstft_loss(silent, silent)) == 0.0
    assert float(mrstft_loss(quiet, silent)) < float(mrstft_loss(loud, silent)) < 1e4


def test_only_windows_longer_than_the_latent_hop_tell_a_bass_note_from_its_neighbour_on_the_frame_comb():
    # 100 Hz against 107.67 Hz (the fifth harmonic of the 21.53 Hz latent frame rate): a semitone and a
    # half apart, within one bin of a 2048 window, six bins apart in an 8192 one.
    target, pred = tone(100.0, seconds=1.0), tone(5 * SR / 2048, seconds=1.0)
    short = float(mrstft_loss(pred, target, fft_sizes=(2048,)))
    long = float(mrstft_loss(pred, target, fft_sizes=(8192,)))
    assert long > 1.5 * short


def test_the_loss_windows_are_checked_when_the_config_loads():
    from s2acc.vae.train import LossSection

    assert LossSection(fft_sizes=(8192, 2048)).fft_sizes == (8192, 2048)
    for bad in ((), (1000,), (4,)):
        with pytest.raises(ValueError, match="fft_sizes"):
            LossSection(fft_sizes=bad)

"""The multi-scale STFT discriminator and the adversarial losses."""

from __future__ import annotations

import torch

from s2acc.vae.discriminator import MultiScaleSTFTDiscriminator, discriminator_loss, generator_losses


def test_shapes_gradients_and_a_discriminator_that_learns():
    torch.manual_seed(0)
    disc = MultiScaleSTFTDiscriminator(scales=(256, 128), channels=8)
    t = torch.arange(4096) / 44100
    real = (0.5 * torch.sin(2 * torch.pi * 440 * t)).repeat(2, 2, 1)
    fake = 0.2 * torch.randn(2, 2, 4096)
    outs = disc(real)
    assert len(outs) == 2 and all(logits.shape[0] == 2 and len(feats) == 5 for logits, feats in outs)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3)
    first = None
    for _ in range(15):
        loss = discriminator_loss(disc(real), disc(fake.detach()))
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first  # it learns to tell the tone from noise
    fake = fake.clone().requires_grad_(True)
    adversarial, matching = generator_losses(disc(real), disc(fake))
    (adversarial + matching).backward()
    assert torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0
    same_adv, same_match = generator_losses(disc(real), disc(real))
    assert same_match.item() == 0.0

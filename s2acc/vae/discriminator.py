"""Multi-scale STFT discriminator (EnCodec style) and the adversarial losses of VAE fine-tuning.

Each scale looks at the complex STFT of the stereo signal (real and imaginary parts of both
channels as 4 input planes) with a stack of 2-D convolutions dilated along time and strided along
frequency, and returns per-patch logits plus its intermediate feature maps. The generator is trained
with a hinge adversarial loss and an L1 feature-matching loss on those maps; the discriminator with
the hinge loss on real versus reconstructed audio.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

SCALES = (2048, 1024, 512, 256, 128)


class STFTDiscriminator(nn.Module):
    def __init__(self, n_fft: int, channels: int = 32, audio_channels: int = 2, dilations=(1, 2, 4)):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        layers = [weight_norm(nn.Conv2d(2 * audio_channels, channels, (3, 9), padding=(1, 4)))]
        for d in dilations:
            layers.append(
                weight_norm(
                    nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), dilation=(d, 1), padding=(d, 4))
                )
            )
        layers.append(weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1))))
        self.layers = nn.ModuleList(layers)
        self.out = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``audio`` (batch, channels, samples) -> logits and feature maps."""
        b, c, n = audio.shape
        spec = torch.stft(
            audio.reshape(b * c, n),
            self.n_fft,
            hop_length=self.n_fft // 4,
            window=self.window,
            return_complex=True,
        )
        x = torch.view_as_real(spec).reshape(b, c, *spec.shape[-2:], 2)  # (b, c, freq, time, 2)
        x = x.permute(0, 1, 4, 3, 2).reshape(b, 2 * c, spec.shape[-1], spec.shape[-2])  # (b, 2c, time, freq)
        features = []
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)
            features.append(x)
        return self.out(x), features


class MultiScaleSTFTDiscriminator(nn.Module):
    def __init__(self, scales=SCALES, channels: int = 32, audio_channels: int = 2):
        super().__init__()
        self.discriminators = nn.ModuleList(STFTDiscriminator(n, channels, audio_channels) for n in scales)

    def forward(self, audio: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        return [d(audio) for d in self.discriminators]


def discriminator_loss(real: list, fake: list) -> torch.Tensor:
    """Hinge loss: real logits pushed above 1, reconstructed ones below -1 (pass ``fake`` detached)."""
    return sum(
        F.relu(1 - r).mean() + F.relu(1 + f).mean() for (r, _), (f, _) in zip(real, fake, strict=True)
    ) / len(real)


def generator_losses(real: list, fake: list) -> tuple[torch.Tensor, torch.Tensor]:
    """(adversarial hinge loss, feature matching L1 relative to the real features' scale)."""
    adversarial = sum(F.relu(1 - f).mean() for f, _ in fake) / len(fake)
    matching = fake[0][0].new_zeros(())
    count = 0
    for (_, real_feats), (_, fake_feats) in zip(real, fake, strict=True):
        for r, f in zip(real_feats, fake_feats, strict=True):
            matching = matching + F.l1_loss(f, r.detach()) / (r.detach().abs().mean() + 1e-5)
            count += 1
    return adversarial, matching / count

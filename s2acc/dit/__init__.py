"""The latent DiT: model, flow matching, text conditioning, training and generation."""

from s2acc.dit.model import DiTConfig, LatentDiT

__all__ = ["DiTConfig", "LatentDiT"]

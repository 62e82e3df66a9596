"""The Oobleck audio VAE (Stable Audio / DiffRhythm family): building, loading and chunked coding."""

from s2acc.vae.oobleck import (
    FULL_CONFIG,
    HOP,
    LATENT_RATE,
    SMALL_CONFIG,
    TINY_CONFIG,
    build_vae,
    decode,
    encode,
    load_vae,
    open_vae,
)

__all__ = [
    "FULL_CONFIG",
    "HOP",
    "LATENT_RATE",
    "SMALL_CONFIG",
    "TINY_CONFIG",
    "build_vae",
    "decode",
    "encode",
    "load_vae",
    "open_vae",
]

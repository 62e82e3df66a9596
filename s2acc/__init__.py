"""s2acc: the library behind an S2Accompanist-style ATTM entry.

Audio I/O, typed configs, the weights registry, the embedded synthetic corpus, and (as they land)
lead-sheet features, the semantic-aware VAE, the latent DiT and generation.
"""

__version__ = "0.1.0"

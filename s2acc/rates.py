"""The time grid every part of s2acc shares: the audio sample rate, the latent frame rate and the
scored length of a clip.

Clips, stems, generations and submissions are 44.1 kHz (the challenge's rate and Stable Audio Open's).
The Oobleck VAE turns ``HOP`` samples into one latent frame, and lead sheets are written on the same
frames, so a lead sheet's frame ``i`` and a latent's frame ``i`` cover the same audio.
"""

SAMPLE_RATE = 44100
HOP = 2048  # Oobleck's downsampling: 2 * 4 * 4 * 8 * 8
LATENT_RATE = SAMPLE_RATE / HOP
SCORED_SECONDS = 10.0  # the challenge scores the first 10 s of every clip

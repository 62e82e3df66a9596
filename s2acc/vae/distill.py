"""Lead-sheet distillation for the VAE: targets on the latent grid, and the two losses that use them.

Targets (per latent frame, from :class:`s2acc.leadsheet.LeadSheet`, whose arrays already sit on the
44100/2048 Hz grid): chord class (25, one-hot), chroma (12), melody pitch class (12 one-hot, all zero
when unvoiced) and voicing, beat, downbeat and onset strength: 53 features.

- ``align`` (the default, Semantic-VAE style): a small conv stack projects the features into the
  latent space and the loss is the mean over frames of 1 - cos(z_mean, projection), both centred
  over the batch (see :func:`alignment_loss`). The projector is a fixed random embedding by default
  (``train_projector`` in the VAE config), dropped after training; the encoder is what learns to carry
  the structure.
- ``predict`` (the opposite direction): a small head predicts chord class, pitch class (13 with
  "unvoiced") and beat presence from the latents, with cross-entropy; the head is dropped after.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from s2acc.leadsheet import NO_CHORD, LeadSheet

N_CHORDS = NO_CHORD + 1
FEATURES = N_CHORDS + 12 + 12 + 1 + 3  # chord, chroma, pitch class, voicing, beat/downbeat/onset


def leadsheet_targets(sheet: LeadSheet, start_frame: int, n_frames: int) -> dict[str, torch.Tensor]:
    """Frame-aligned targets of frames [start_frame, start_frame + n_frames); frames past the end of
    the sheet are no-chord, unvoiced and silent."""

    def window(arr: np.ndarray, fill) -> np.ndarray:
        out = np.full((n_frames, *arr.shape[1:]), fill, dtype=arr.dtype)
        piece = arr[start_frame : start_frame + n_frames]
        out[: len(piece)] = piece
        return out

    chord = torch.from_numpy(window(sheet.chord, NO_CHORD).astype(np.int64))
    pitch = torch.from_numpy(window(sheet.pitch_class, -1).astype(np.int64))
    voiced = pitch >= 0
    features = torch.cat(
        [
            F.one_hot(chord, N_CHORDS).float(),
            torch.from_numpy(window(sheet.chroma, 0.0)).float(),
            F.one_hot(pitch.clamp(min=0), 12).float() * voiced[:, None],
            voiced[:, None].float(),
            torch.from_numpy(
                np.stack([window(sheet.beat, 0.0), window(sheet.downbeat, 0.0), window(sheet.onset, 0.0)], 1)
            ).float(),
        ],
        dim=1,
    )
    return {
        "features": features.T.contiguous(),  # (FEATURES, frames), channels first like the latents
        "chord": chord,
        "pitch_class": torch.where(voiced, pitch, torch.full_like(pitch, 12)),  # 12 = unvoiced
        "beat": torch.from_numpy(window(sheet.beat, 0.0) > 0.5).long(),
    }


class LeadSheetProjector(nn.Module):
    """Lead-sheet features (batch, FEATURES, frames) to the latent space (batch, latent_dim, frames)."""

    def __init__(self, latent_dim: int = 64, hidden: int = 128, kernel: int = 3):
        super().__init__()
        pad = kernel // 2
        self.net = nn.Sequential(
            nn.Conv1d(FEATURES, hidden, kernel, padding=pad),
            nn.GELU(),
            nn.Conv1d(hidden, hidden, kernel, padding=pad),
            nn.GELU(),
            nn.Conv1d(hidden, latent_dim, 1),
        )

    def forward(self, features: torch.Tensor, n_frames: int | None = None) -> torch.Tensor:
        if n_frames is not None and features.shape[-1] != n_frames:
            features = F.interpolate(features, size=n_frames, mode="nearest")
        return self.net(features)


def alignment_loss(
    z_mean: torch.Tensor, projected: torch.Tensor, mask: torch.Tensor | None = None, centre: bool = True
) -> torch.Tensor:
    """Mean over frames of 1 - cos(z, p), cosine over the latent dimension; ``mask`` (batch, frames).

    ``centre`` first removes each channel's mean over the batch's (valid) frames from both sides. A
    plain cosine has a trivial optimum: a projector that ignores its input and an encoder that adds the
    same constant offset to every latent agree perfectly while the latents carry nothing. Centred,
    only what varies from frame to frame and clip to clip can align, so the encoder must follow the
    lead sheet.
    """
    weight = (torch.ones_like(z_mean[:, 0]) if mask is None else mask.to(z_mean.dtype))[:, None]
    if centre:
        count = weight.sum().clamp(min=1.0)
        z_mean = z_mean - (z_mean * weight).sum((0, 2), keepdim=True) / count
        projected = projected - (projected * weight).sum((0, 2), keepdim=True) / count
    per_frame = 1.0 - F.cosine_similarity(z_mean, projected, dim=1, eps=1e-6)
    weight = weight[:, 0]
    return (per_frame * weight).sum() / weight.sum().clamp(min=1.0)


class LeadSheetHead(nn.Module):
    """Latents to per-frame logits of chord (25), pitch class (13, last = unvoiced) and beat (2)."""

    def __init__(self, latent_dim: int = 64, hidden: int = 128):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(latent_dim, hidden, 3, padding=1), nn.GELU())
        self.chord = nn.Conv1d(hidden, N_CHORDS, 1)
        self.pitch = nn.Conv1d(hidden, 13, 1)
        self.beat = nn.Conv1d(hidden, 2, 1)

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.body(z)
        return {"chord": self.chord(h), "pitch_class": self.pitch(h), "beat": self.beat(h)}


def prediction_loss(logits: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of the per-frame cross-entropies: logits (batch, classes, frames), targets (batch, frames)."""
    return sum(F.cross_entropy(logits[k], targets[k]) for k in ("chord", "pitch_class", "beat"))

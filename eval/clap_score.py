"""CLAP score: the mean cosine between each prompt's CLAP text embedding and its clip's audio embedding.

The challenge scores the first 10 s of each clip, which is exactly one window of the non-fusion model:
the clip goes through the same preprocessing as for FAD (mono, 48 kHz, the int16 round trips) and the
first 480,000 samples (zero-padded if shorter) are embedded once. laion_clap L2-normalises both
embeddings, so the cosine is their dot product; it is recomputed here as a cosine all the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eval.embedders import ClapEmbedder, fadtk_clap_audio
from s2acc.clap import CLAP_SR, CLAP_WINDOW


@dataclass
class ClapScore:
    mean: float
    per_prompt: list[float]


def first_window(audio: np.ndarray, sr: int) -> np.ndarray:
    x = fadtk_clap_audio(audio, sr)[:CLAP_WINDOW]
    return np.pad(x, (0, CLAP_WINDOW - len(x)))


def clap_score(embedder: ClapEmbedder, clips: list[np.ndarray], sr: int, prompts: list[str]) -> ClapScore:
    if len(clips) != len(prompts):
        raise ValueError(f"{len(clips)} clips but {len(prompts)} prompts")
    if not clips:
        raise ValueError("no clips to score")
    import torch

    parts = []
    with torch.no_grad():
        for i in range(0, len(clips), embedder.batch_size):
            batch = torch.from_numpy(
                np.stack([first_window(c, sr) for c in clips[i : i + embedder.batch_size]])
            )
            batch = batch.to(embedder.device)
            parts.append(embedder.model.get_audio_embedding_from_data(batch, use_tensor=True).float().cpu())
    audio = torch.cat(parts).numpy()
    text = embedder.embed_text(prompts)
    cos = (audio * text).sum(1) / (np.linalg.norm(audio, axis=1) * np.linalg.norm(text, axis=1))
    values = [float(v) for v in np.clip(cos, -1.0, 1.0)]
    return ClapScore(float(np.mean(values)), values)


__all__ = ["CLAP_SR", "ClapScore", "clap_score", "first_window"]

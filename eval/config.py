"""The evaluation job's config (kind ``eval``): what is generated, and the challenge's scoring contract.

The contract values (the scored crop, the FAD embedder and its windowing, the CLAP checkpoint) are
frozen in ``configs/eval/attm.yaml``; the embedder code follows fadtk step by step (``eval/embedders.py``)
and the checkpoints are pinned by sha256 in the weights registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from s2acc.dit.generate import SamplingSection
from s2acc.rates import SAMPLE_RATE, SCORED_SECONDS


@dataclass
class GenerationSection(SamplingSection):
    seed: int = 0  # per-prompt seeds derive from it and the prompt ids


@dataclass
class ContractSection:
    """The challenge's scoring contract, restated as values next to the choices a run makes.

    Each value must equal what the scorer computes (``scorer_contract``): a config that changes one is
    refused at load time instead of printing a score the organisers' tools would not give.
    """

    clip_sample_rate: int = 44100  # submitted clips: {id}.wav at 44.1 kHz
    scored_seconds: float = 10.0  # the first 10 s of each clip are scored
    fad_embedder: str = "clap-laion-music"  # fadtk's model name, the organisers' FAD
    clap_checkpoint: str = "music_audioset_epoch_15_esc_90.14.pt"  # HTSAT-base, no fusion
    clap_sha256: str = "fae3e9c087f2909c28a09dc31c8dfcdacbc42ba44c70e972b58c1bd1caf6dedd"
    clap_sample_rate: int = 48000  # mono mix resampled to this, with torchaudio's Kaiser-windowed sinc:
    resample_lowpass_width: int = 64  # zero crossings each side
    resample_rolloff: float = 0.9475937167399596  # cut-off as a share of the lower Nyquist rate
    resample_beta: float = 14.769656459379492  # Kaiser window shape
    pcm_bits: int = 16  # fadtk's 16-bit WAV cache of the resampled audio, written by libsndfile
    clap_int16_scale: float = 32767.0  # laion_clap's own round trip: x * 32767 truncated to int16
    window_seconds: float = 10.0  # FAD windows of 10 s ...
    hop_seconds: float = 1.0  # ... starting every 1 s, the last zero-padded
    embedding_dtype: str = "float16"  # fadtk stores the window embeddings as float16
    judge_sample_rate: int = 16000  # the CCS judge hears 16 kHz mono

    def __post_init__(self) -> None:
        scorer = scorer_contract()
        changed = [f"{k}: {getattr(self, k)!r} (the scorer computes {v!r})" for k, v in scorer.items()
                   if getattr(self, k) != v]  # fmt: skip
        if changed:
            raise ValueError(
                "contract values are the challenge's and cannot be changed in a config: " + "; ".join(changed)
            )


def scorer_contract() -> dict:
    """The contract as the scoring code implements it (its constants and the weights registry's pin)."""
    from eval.ccs import JUDGE_SR
    from eval.embedders import (
        HOP_SECONDS,
        LAION_INT16_SCALE,
        PCM_BITS,
        RESAMPLE_BETA,
        RESAMPLE_ROLLOFF,
        RESAMPLE_WIDTH,
        ClapEmbedder,
    )
    from eval.fad import EMBEDDING_DTYPE
    from s2acc.clap import CLAP_SR, CLAP_WINDOW
    from s2acc.hub import default_registry

    clap = default_registry()["clap-laion-music"]
    return {
        "clip_sample_rate": SAMPLE_RATE,
        "scored_seconds": SCORED_SECONDS,
        "fad_embedder": ClapEmbedder.name,
        "clap_checkpoint": clap.filename,
        "clap_sha256": clap.sha256,
        "clap_sample_rate": CLAP_SR,
        "resample_lowpass_width": RESAMPLE_WIDTH,
        "resample_rolloff": RESAMPLE_ROLLOFF,
        "resample_beta": RESAMPLE_BETA,
        "pcm_bits": PCM_BITS,
        "clap_int16_scale": LAION_INT16_SCALE,
        "window_seconds": CLAP_WINDOW / CLAP_SR,
        "hop_seconds": HOP_SECONDS,
        "embedding_dtype": np.dtype(EMBEDDING_DTYPE).name,
        "judge_sample_rate": JUDGE_SR,
    }


@dataclass
class MetricsSection:
    fad_embedder: str = "clap-laion-music"  # clap-laion-music (the organisers') | mel-stats (offline)
    clap_score: str = "auto"  # auto (when the CLAP weights are present) | on | off
    ccs: str = "auto"  # auto (when the judge's weights are present) | on | off
    ccs_judge: str = "qwen3-omni-30b-a3b-instruct"  # the organisers' | qwen2-audio-7b-instruct (7B)
    adherence: str = "auto"  # auto (when the prompts carry tempo and key columns) | off
    # the first N seconds of each reference file (0: whole files); 10 compares like with like when the
    # reference is full tracks and the clips are the scored 10 s
    reference_seconds: float = 0.0
    bootstrap: int = 1000  # FAD resamples over prompts for its interval
    seed: int = 0


@dataclass
class EvalConfig:
    KIND: ClassVar[str] = "eval"

    out: str = "runs/eval"
    checkpoint: str = ""  # a DiT export folder (s2acc train-dit)
    vae: str = ""  # decode with this VAE instead of the export's
    prompts: str = ""  # id,prompt CSV; empty: n_prompts benchmark prompts drawn with prompts_seed
    n_prompts: int = 100
    prompts_seed: int = 0
    reference: str = ""  # folder of reference audio, or a saved statistics .npz
    device: str = "auto"  # auto | cpu | cuda
    generation: GenerationSection = field(default_factory=GenerationSection)
    metrics: MetricsSection = field(default_factory=MetricsSection)
    contract: ContractSection = field(default_factory=ContractSection)

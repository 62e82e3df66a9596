"""The evaluation job's config (kind ``eval``): what is generated, and the challenge's scoring contract.

The contract values (the scored crop, the FAD embedder and its windowing, the CLAP checkpoint) are
frozen in ``configs/eval/attm.yaml``; the embedder code follows fadtk step by step (``eval/embedders.py``)
and the checkpoints are pinned by sha256 in the weights registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from s2acc.dit.generate import SamplingSection


@dataclass
class GenerationSection(SamplingSection):
    seed: int = 0  # per-prompt seeds derive from it and the prompt ids


@dataclass
class MetricsSection:
    scored_seconds: float = 10.0  # the challenge scores the first 10 s of each clip
    fad_embedder: str = "clap-laion-music"  # clap-laion-music (the organisers') | mel-stats (offline)
    clap_score: str = "auto"  # auto (when the CLAP weights are present) | on | off
    ccs: str = "auto"  # auto (when the judge's weights are present) | on | off
    ccs_judge: str = "qwen2-audio-7b-instruct"  # a weights-registry name
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

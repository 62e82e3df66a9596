"""``s2acc params``: the parameter audit the ATTM rules ask for.

The core generative model (the DiT: everything trained to generate, counted toward the 500M limit)
against the auxiliary parts it uses frozen (the VAE, the text encoder). Every part is built on the
meta device from its architecture config, so auditing the 402M model allocates nothing.
"""

from __future__ import annotations

import torch

LIMIT = 500_000_000


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _text_encoder(name: str) -> tuple[str, int | None]:
    """(architecture, parameter count) of a text encoder, built from config on the meta device."""
    if name == "minilm":
        from transformers import AutoConfig, AutoModel

        from s2acc.dit.text import minilm_folder

        return "BERT (all-MiniLM-L6-v2)", count(
            AutoModel.from_config(AutoConfig.from_pretrained(minilm_folder()))
        )
    if name == "flan-t5":
        from transformers import T5Config, T5EncoderModel

        config = T5Config(  # google/flan-t5-large
            d_model=1024,
            d_ff=2816,
            num_layers=24,
            num_heads=16,
            d_kv=64,
            vocab_size=32128,
            feed_forward_proj="gated-gelu",
            is_encoder_decoder=False,
        )
        return "T5 encoder (flan-t5-large)", count(T5EncoderModel(config))
    if name == "clap":
        from transformers import RobertaConfig, RobertaModel

        tower = count(
            RobertaModel(RobertaConfig(vocab_size=50265, max_position_embeddings=514, type_vocab_size=1))
        )
        projection = 768 * 512 + 512 + 512 * 512 + 512  # laion_clap's text_projection MLP
        return "RoBERTa-base text tower + projection (LAION-CLAP)", tower + projection
    return "MuQ-MuLan text tower (needs the muq package to count)", None


def vae_config(spec: str) -> dict:
    """The architecture of the VAE a config names: tiny/full, an export folder's config.json, or
    (registry names) the full Oobleck."""
    import json
    from pathlib import Path

    from s2acc.vae.oobleck import _INIT_KEYS, FULL_CONFIG, TINY_CONFIG

    if spec == "tiny":
        return TINY_CONFIG
    path = Path(spec) / "config.json"
    if path.exists():
        return {k: v for k, v in json.loads(path.read_text()).items() if k in _INIT_KEYS}
    return FULL_CONFIG


def audit(cfg) -> dict:
    """``cfg``: a DiT training config (kind ``dit``)."""
    from s2acc.dit.model import LatentDiT
    from s2acc.vae.oobleck import FULL_CONFIG

    with torch.device("meta"):
        dit = LatentDiT(cfg.model)
        blocks = count(dit.blocks)
        core = count(dit)
        from diffusers import AutoencoderOobleck

        vae_cfg = vae_config(cfg.vae)
        vae = count(AutoencoderOobleck(**vae_cfg))
        text_arch, text = _text_encoder(cfg.text_encoder)
    return {
        "core": {
            "dit": core,
            "of_which_blocks": blocks,
            "of_which_embeddings_and_conditioning": core - blocks,
        },
        "auxiliary": {
            f"vae ({'full Oobleck' if vae_cfg == FULL_CONFIG else 'Oobleck, ' + cfg.vae})": vae,
            f"text encoder: {text_arch}": text,
        },
        "limit": LIMIT,
        "core_within_limit": core <= LIMIT,
    }


def format_audit(report: dict) -> str:
    def m(n):
        return "?" if n is None else f"{n / 1e6:,.2f}M"

    lines = ["core generative model (counted toward the limit)"]
    lines += [f"  {k:<40} {m(v):>12}" for k, v in report["core"].items()]
    lines += ["auxiliary (frozen, not counted)"]
    lines += [f"  {k:<60} {m(v):>12}" for k, v in report["auxiliary"].items()]
    verdict = "within" if report["core_within_limit"] else "OVER"
    lines += [f"core {m(report['core']['dit'])} is {verdict} the {m(report['limit'])} limit"]
    return "\n".join(lines)

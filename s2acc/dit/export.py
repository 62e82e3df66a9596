"""The DiT's release format: ``model.safetensors`` (the EMA weights of the DiT alone) beside a
``config.json`` that holds all a generator needs.

``config.json`` keys: ``dit`` (the :class:`DiTConfig` fields), ``text_encoder``, ``vae``,
``latent_stats`` (the mean and std the latents were normalised with), ``sampling`` (the default
solver settings), ``stage`` (pretrain or sft), and the trainer's ``train_step`` and ``ema_decay``.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file

from s2acc.dit.model import DiTConfig, LatentDiT
from s2acc.hub import default_registry


def export_folder(spec: str | Path) -> Path:
    """A DiT export named by its folder, or by its weights-registry name (a bundled export)."""
    registry = default_registry()
    return registry.resolve(str(spec)) if str(spec) in registry.entries else Path(spec)


def load_dit(spec: str | Path) -> tuple[LatentDiT, dict]:
    """A DiT export (a folder or a registry name), loaded strictly, and its config."""
    folder = export_folder(spec)
    meta_path = folder / "config.json"
    if not meta_path.exists() or not (folder / "model.safetensors").exists():
        raise FileNotFoundError(f"{folder}: not a DiT export (model.safetensors + config.json expected)")
    meta = json.loads(meta_path.read_text())
    if "dit" not in meta:
        raise ValueError(f"{meta_path}: has no 'dit' section; is this a DiT export?")
    model = LatentDiT(DiTConfig(**meta["dit"]))
    try:
        model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
    except RuntimeError as err:
        raise ValueError(f"{folder}: weights do not match the config: {err}") from None
    return model.eval(), meta

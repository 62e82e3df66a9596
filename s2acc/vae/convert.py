"""Oobleck weights from stable-audio-tools' layout (DiffRhythm's VAE, Stable Audio checkpoints) to diffusers'.

stable-audio-tools numbers its modules (``encoder.layers.N.layers.M...``); diffusers names them
(``encoder.block.N-1.res_unit1...``). The structures are the same (Stable Audio Open's VAE config, which
DiffRhythm's VAE was fine-tuned from), so conversion is renaming plus two representation changes:

- Snake activations store ``alpha``/``beta`` as (C,) there and (1, C, 1) here (both log-scale);
- weight norm may arrive as ``weight_g``/``weight_v`` (the old torch API, as diffusers stores it),
  as ``parametrizations.weight.original0/1`` (the new API), or fused into a plain ``weight`` (an
  export that removed weight norm); the last is split back exactly, g = ||W|| over all but dim 0.

Layout of the numbered side, for ``n`` blocks (5 in every released config): encoder layer 0 is the
input conv, 1..n the blocks (residual units 0-2, Snake 3, strided conv 4), n+1 a Snake and n+2 the
output conv; decoder layer 0 is the input conv, 1..n the blocks (Snake 0, transposed conv 1, residual
units 2-4), n+1 a Snake, n+2 the output conv and n+3 a parameter-free Tanh or Identity. A residual
unit is Snake 0, dilated conv 1, Snake 2, 1x1 conv 3.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

PREFIXES = ("pretransform.model.", "autoencoder.", "model.", "module.")
RESIDUAL = {"0": "snake1", "1": "conv1", "2": "snake2", "3": "conv2"}
ENCODER_BLOCK = {"0": "res_unit1", "1": "res_unit2", "2": "res_unit3", "3": "snake1", "4": "conv1"}
DECODER_BLOCK = {"0": "snake1", "1": "conv_t1", "2": "res_unit1", "3": "res_unit2", "4": "res_unit3"}


class ConversionError(ValueError):
    pass


def _strip_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in PREFIXES:
        keyed = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if any(k.startswith(("encoder.", "decoder.")) for k in keyed):
            return keyed
    return {k: v for k, v in state.items() if k.startswith(("encoder.", "decoder."))}


def _unfuse_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        if key.endswith(".parametrizations.weight.original0"):
            out[key.replace(".parametrizations.weight.original0", ".weight_g")] = value
        elif key.endswith(".parametrizations.weight.original1"):
            out[key.replace(".parametrizations.weight.original1", ".weight_v")] = value
        elif key.endswith(".weight") and value.ndim == 3:  # a conv whose weight norm was removed
            base = key[: -len(".weight")]
            out[base + ".weight_v"] = value
            out[base + ".weight_g"] = value.norm(dim=(1, 2), keepdim=True)
        else:
            out[key] = value
    return out


def _rename(key: str, n_blocks: int) -> str | None:
    """The diffusers name of a numbered key; None for keys of parameter-free layers."""
    match = re.fullmatch(r"(encoder|decoder)\.layers\.(\d+)\.(.+)", key)
    if not match:
        raise ConversionError(f"unexpected key {key!r} (expected encoder.layers.N... or decoder.layers.N...)")
    side, index, rest = match.group(1), int(match.group(2)), match.group(3)
    if index == 0:
        return f"{side}.conv1.{rest}"
    if index == n_blocks + 1:
        return f"{side}.snake1.{rest}"
    if index == n_blocks + 2:
        return f"{side}.conv2.{rest}"
    if not 1 <= index <= n_blocks:
        raise ConversionError(f"{key!r}: layer {index} is outside a {n_blocks}-block {side}")
    inner = re.fullmatch(r"layers\.(\d+)\.(.+)", rest)
    table = ENCODER_BLOCK if side == "encoder" else DECODER_BLOCK
    if not inner or inner.group(1) not in table:
        raise ConversionError(f"unexpected key {key!r} inside block {index}")
    name, tail = table[inner.group(1)], inner.group(2)
    if name.startswith("res_unit"):
        unit = re.fullmatch(r"layers\.(\d)\.(.+)", tail)
        if not unit or unit.group(1) not in RESIDUAL:
            raise ConversionError(f"unexpected key {key!r} inside a residual unit")
        tail = f"{RESIDUAL[unit.group(1)]}.{unit.group(2)}"
    return f"{side}.block.{index - 1}.{name}.{tail}"


def sat_to_diffusers(state: dict[str, torch.Tensor], n_blocks: int = 5) -> dict[str, torch.Tensor]:
    """A stable-audio-tools Oobleck state dict (any prefix, any weight-norm form) in diffusers names."""
    state = _unfuse_weight_norm(_strip_prefix(state))
    if not state:
        raise ConversionError("no encoder./decoder. keys found (is this an Oobleck VAE checkpoint?)")
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = _rename(key, n_blocks)
        if name.split(".")[-1] in ("alpha", "beta") and value.ndim == 1:
            value = value.reshape(1, -1, 1)
        if name in out:
            raise ConversionError(f"two keys map to {name!r}")
        out[name] = value
    return out


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a TorchScript export (DiffRhythm's ``vae_model.pt``) or of a plain checkpoint.

    TorchScript files run code they carry when loaded; the weights registry pins such files by sha256.
    """
    path = Path(path)
    try:
        return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    except RuntimeError:  # a plain checkpoint rather than an export
        loaded = torch.load(path, map_location="cpu", weights_only=True)
        return dict(loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded)

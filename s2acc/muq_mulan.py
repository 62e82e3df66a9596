"""MuQ-MuLan (music-text joint embedding), loaded from the weights registry's local copies only.

Its config names its two towers (the MuQ audio model and XLM-RoBERTa) by hub id, and building the
model loads them from there: the names are pointed at the registry's verified snapshots instead, so the
grader and the DiT text encoder never touch the hub.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import types
from pathlib import Path

import torch

from s2acc.clap import resolve_all

MUQ_MULAN_ID = "OpenMuQ/MuQ-MuLan-large"
TOWERS = ["muq-mulan-large", "muq-large-msd-iter", "xlm-roberta-base"]  # registry entries


def import_muq() -> types.ModuleType:
    """The ``muq`` package, or a RuntimeError saying what it needs."""
    missing = [name for name in ("muq", "torchaudio") if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(
            f"MuQ-MuLan needs {' and '.join(missing)} (not installed). MuQ computes its mel "
            "spectrogram with torchaudio, and no torchaudio build pairs with this CPU torch "
            f"{torch.__version__}. On a machine with a matching torchaudio: pip install torchaudio==<the "
            "version built for the installed torch> muq; otherwise use the laion-clap or "
            "caption-consistency alignment, or another text encoder."
        )
    try:
        return importlib.import_module("muq")
    except ImportError as err:
        raise RuntimeError(f"the muq package is installed but does not import here: {err}") from err


def load_muq_mulan(model_id: str = MUQ_MULAN_ID, device: str = "cpu") -> torch.nn.Module:
    """MuQ-MuLan with its audio and text towers, all from local files: the registry's copies, or a
    local folder holding a complete model."""
    if model_id != MUQ_MULAN_ID:
        if not Path(model_id).is_dir():
            raise ValueError(
                f"model_id must be {MUQ_MULAN_ID!r} (from the weights registry) or a local folder"
            )
        return import_muq().MuQMuLan.from_pretrained(model_id).to(device).eval()
    mulan_dir, muq_dir, xlmr_dir = resolve_all(TOWERS)  # before the import: missing weights are named first
    muq = import_muq()
    config = json.loads((mulan_dir / "config.json").read_text())
    config["audio_model"]["name"] = str(muq_dir)
    config["text_model"]["name"] = str(xlmr_dir)
    model = muq.MuQMuLan(config)
    model.load_state_dict(torch.load(mulan_dir / "pytorch_model.bin", map_location="cpu", weights_only=True))
    return model.to(device).eval()

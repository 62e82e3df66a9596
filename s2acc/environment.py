"""Checks that the installed environment is the one this project was resolved for.

The traps it guards against are real and silent: a torchvision/torchaudio wheel built for CUDA next
to the CPU torch breaks transformers and diffusers imports; numpy 2 breaks laion-clap; laion_clap's
import needs the torchvision resolution in :mod:`s2acc.compat`.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _version(module: str) -> str:
    return getattr(importlib.import_module(module), "__version__", "?")


def _try(name: str, fn) -> Check:
    try:
        return Check(name, True, fn())
    except Exception as err:  # a check reports every failure rather than stopping at the first
        return Check(name, False, f"{type(err).__name__}: {err}")


def _torch() -> str:
    import torch

    if not torch.version.cuda:
        return f"{torch.__version__} (CPU build)"
    return f"{torch.__version__} (CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s))"


def _numpy() -> str:
    import numpy

    if int(numpy.__version__.split(".")[0]) >= 2:
        raise RuntimeError(f"numpy {numpy.__version__}: laion-clap needs numpy<2")
    return numpy.__version__


def _optional_vision_audio() -> str:
    import torch

    found = [m for m in ("torchvision", "torchaudio") if importlib.util.find_spec(m)]
    if not found:
        return "absent (as intended)"
    for m in found:
        importlib.import_module(m)  # raises if the wheel does not pair with this torch
    if not torch.version.cuda:
        return f"{', '.join(found)} installed and importable"
    return ", ".join(f"{m} {_version(m)}" for m in found)


def _laion_clap() -> str:
    from s2acc.compat import import_laion_clap

    import_laion_clap()
    return "importable"


def check_environment() -> list[Check]:
    """Every check, passing or not."""
    checks = [
        _try("torch", _torch),
        _try("numpy", _numpy),
        _try("torchvision/torchaudio", _optional_vision_audio),
    ]
    for module in ("transformers", "diffusers", "accelerate", "demucs", "librosa", "pandas", "soundfile"):
        checks.append(_try(module, lambda m=module: _version(m)))
    checks.append(_try("laion_clap", _laion_clap))
    return checks


def git_commit() -> str:
    """The short commit hash of the checkout this package runs from ("unknown" outside git), with
    "-dirty" when tracked files have changes: provenance for results."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")

"""Importing laion_clap without torchvision.

laion-clap 1.1.x imports torchvision at package import time (``clap_module/transform.py``,
``clap_module/utils.py``, ``training/data.py``), although its audio and text embedding paths never
call it: the names are used by the image-tower transforms, a FrozenBatchNorm helper for vision
backbones and the training data loader. torchvision is deliberately absent here: PyPI has no build
of it that pairs with the CPU torch, and the CUDA build breaks ``transformers`` and ``diffusers``
imports when installed beside CPU torch.

:func:`import_laion_clap` therefore imports laion_clap with a temporary ``torchvision`` module
whose every attribute is a class that raises when used, and removes it again right after, so no
other library ever sees a torchvision. If a real torchvision is importable (a GPU machine that
installed it), it is used as is.

A second trap: ``laion_clap/training/data.py`` builds the bert-base-uncased, roberta-base and
bart-base tokenizers from the hub at module level. With no network that import retries for minutes;
in offline mode transformers hands back degenerate tokenizers (5 special tokens) without an error.
The import below runs in hub-offline mode so it never blocks, and those module-level tokenizers must
never be used: code that embeds text with CLAP loads roberta-base through the weights registry.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

_SUBMODULES = (
    "torchvision",
    "torchvision.transforms",
    "torchvision.datasets",
    "torchvision.ops",
    "torchvision.ops.misc",
)


class TorchvisionUnavailable(RuntimeError):
    pass


class _Absent(types.ModuleType):
    """A module every attribute of which is a class that fails when instantiated or called."""

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        module_name = self.__name__

        class Unavailable:
            def __init__(self, *args, **kwargs):
                raise TorchvisionUnavailable(
                    f"{module_name}.{attr} was requested, but torchvision is not installed in this "
                    "environment; only laion_clap's audio and text paths are supported here."
                )

            def __class_getitem__(cls, item):
                return cls

        Unavailable.__name__ = Unavailable.__qualname__ = attr
        return Unavailable


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Hugging Face hub offline mode for the duration of a block, whatever the environment says."""
    from huggingface_hub import constants

    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


_IMPORTS_TORCHVISION = re.compile(r"^\s*(import|from)\s+torchvision\b", re.MULTILINE)


def _modules_importing_torchvision(package_dir: Path) -> list[str]:
    """Dotted names (relative to the package) of the package's modules that import torchvision."""
    names = []
    for path in sorted(package_dir.rglob("*.py")):
        if _IMPORTS_TORCHVISION.search(path.read_text(errors="ignore")):
            parts = path.relative_to(package_dir).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def import_laion_clap() -> types.ModuleType:
    """``import laion_clap`` that works offline and whether or not torchvision is installed."""
    if "laion_clap" in sys.modules:
        return sys.modules["laion_clap"]
    with hub_offline():
        if importlib.util.find_spec("torchvision") is not None:
            return importlib.import_module("laion_clap")
        return _import_without_torchvision()


def _import_without_torchvision() -> types.ModuleType:
    # transformers decides once, at its own import, whether torchvision exists: let it decide first.
    import transformers  # noqa: F401

    placeholders = {name: _Absent(name) for name in _SUBMODULES}
    for name, module in placeholders.items():
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(placeholders[parent], child, module)
    sys.modules.update(placeholders)
    try:
        module = importlib.import_module("laion_clap")
        # Modules laion_clap imports lazily (e.g. the HTSAT encoder's helpers) must bind the
        # placeholders now, under both names they go by: laion_clap adds its own folder to sys.path.
        for name in _modules_importing_torchvision(Path(module.__file__).parent):
            for qualified in (f"laion_clap.{name}", name):
                importlib.import_module(qualified)
        return module
    finally:
        for name in _SUBMODULES:
            if sys.modules.get(name) is placeholders[name]:
                del sys.modules[name]

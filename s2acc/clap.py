"""LAION-CLAP, built without the network: the model behind the challenge's FAD and CLAP score, the
grade stage's alignment metric and a DiT text encoder.

laion_clap fetches ``roberta-base`` (weights and tokenizer) from the hub inside its constructor.
Here the text tower is built from a RoBERTa config and the tokenizer is passed in, both from the
weights registry, and the CLAP checkpoint (which carries the text tower's weights) is loaded with
laion_clap's own loader.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from s2acc.hub import WeightsMissingError, resolve

CLAP_SR = 48000
CLAP_WINDOW = 480000  # 10 s: what the non-fusion checkpoints were trained on


def resolve_all(names: list[str]) -> list[Path]:
    """Resolve several registry entries, reporting every missing one at once."""
    paths, missing = [], []
    for name in names:
        try:
            paths.append(resolve(name))
        except WeightsMissingError as err:
            missing.append(str(err))
    if missing:
        raise WeightsMissingError("\n".join(missing))
    return paths


def _laion_clap() -> types.ModuleType:
    from s2acc.compat import import_laion_clap

    return import_laion_clap()


@contextlib.contextmanager
def _patched(module: types.ModuleType, name: str, value: Any) -> Iterator[None]:
    previous = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, previous)


def build_clap_module(
    roberta_config: Any, tokenizer: Any, device: str = "cpu", amodel: str = "HTSAT-base"
) -> Any:
    """``laion_clap.CLAP_Module`` (no fusion) with random weights and the given text tower and tokenizer.

    laion_clap fetches ``roberta-base`` weights and tokenizer from the hub inside its constructor;
    here the text tower is built from ``roberta_config`` (the CLAP checkpoint carries its weights)
    and the tokenizer is the one passed in, so construction never touches the network.
    """
    from transformers import RobertaModel

    laion_clap = _laion_clap()
    hook = sys.modules[laion_clap.CLAP_Module.__module__]
    factory = sys.modules[hook.create_model.__module__]
    clap_model_module = sys.modules[factory.CLAP.__module__]

    class LocalRoberta:
        @staticmethod
        def from_pretrained(*args: Any, **kwargs: Any) -> Any:
            return RobertaModel(roberta_config)

    class LocalTokenizer:
        @staticmethod
        def from_pretrained(*args: Any, **kwargs: Any) -> Any:
            return tokenizer

    with (
        _patched(clap_model_module, "RobertaModel", LocalRoberta),
        _patched(hook, "RobertaTokenizer", LocalTokenizer),
    ):
        clap = laion_clap.CLAP_Module(enable_fusion=False, device=device, amodel=amodel, tmodel="roberta")
    return clap.eval()


def load_clap_checkpoint(clap: Any, path: str | Path) -> None:
    """Load a LAION-CLAP training checkpoint into ``clap.model`` with laion_clap's own loader.

    That loader unpickles the full file (weights_only=False; the registry pins it by sha256) and
    drops the position_ids buffer that newer transformers no longer store.
    """
    factory = sys.modules[sys.modules[clap.__class__.__module__].create_model.__module__]
    clap.model.load_state_dict(factory.load_state_dict(str(path), map_location="cpu", skip_params=True))


def load_clap(checkpoint: str | None = None, device: str = "cpu") -> Any:
    """The music CLAP (HTSAT-base) with its checkpoint and roberta-base tokenizer from the registry."""
    from transformers import RobertaConfig, RobertaTokenizer

    names = ["roberta-base"] if checkpoint else ["clap-laion-music", "roberta-base"]
    paths = resolve_all(names)
    roberta_dir = paths[-1]
    ckpt = Path(checkpoint) if checkpoint else paths[0]
    clap = build_clap_module(
        RobertaConfig.from_pretrained(roberta_dir), RobertaTokenizer.from_pretrained(roberta_dir), device
    )
    load_clap_checkpoint(clap, ckpt)
    return clap.eval()

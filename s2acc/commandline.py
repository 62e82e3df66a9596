"""Pieces every ``s2acc`` subcommand is built from, in ``s2acc.cli`` and in the packages that add
commands through the ``s2acc.commands`` entry points.

One place spells the config flag, ``--out``, ``--quiet`` and the ``key=value`` overrides, and one
exception reports a user's mistake, so that all commands take their config and fail the same way.
A command's ``--help`` text is its function's docstring, so what a user reads sits next to the code
it describes (argparse refills the lines, so they wrap as the source needs).
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from s2acc.config import load_config

T = TypeVar("T")
Command = Callable[[argparse.Namespace], int]
Subparsers = argparse._SubParsersAction


class CommandError(Exception):
    """A mistake in what the user asked for (a path that is not there, a malformed input file, a bad
    flag value). ``s2acc`` prints it as ``s2acc COMMAND: error: MESSAGE`` and exits 2, no traceback."""


def _help_and_description(doc: str | None) -> tuple[str | None, str | None]:
    """First paragraph and the rest (None where absent, as under ``python -OO``)."""
    if not doc:
        return None, None
    first, _, rest = inspect.cleandoc(doc).partition("\n\n")
    return first, rest or None


def add_command(
    sub: Subparsers,
    name: str,
    func: Command | None = None,
    doc: str | None = None,
    *,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Add the subcommand ``name`` that runs ``func``, and return its parser for the arguments.

    The first paragraph of ``doc`` (default: ``func``'s docstring) is the one-line help in the parent's
    list, the rest the description atop ``--help``; ``description`` replaces the latter where the text
    is computed. Add the standard arguments with :func:`add_config`, :func:`add_quiet` and
    :func:`add_overrides`, in the order they should be listed.
    """
    help, rest = _help_and_description(doc if doc is not None else getattr(func, "__doc__", None))
    parser = sub.add_parser(name, help=help, description=description or rest)
    if func is not None:
        parser.set_defaults(func=func)
    return parser


def add_group(sub: Subparsers, name: str, doc: str | None, *, metavar: str = "COMMAND") -> Subparsers:
    """A command that only holds subcommands (``s2acc eval run``), described by ``doc`` as
    :func:`add_command` describes a command; one of its subcommands must be named."""
    parser = add_command(sub, name, doc=doc)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar=metavar)


def add_config(
    parser: argparse.ArgumentParser,
    help: str,
    *,
    flag: str = "--config",
    required: bool = True,
    out: str | None = None,
) -> None:
    """The config YAML (stored as ``args.config`` whatever ``flag`` is) and, when ``out`` says what the
    run folder is, ``--out`` to override the config's ``out``. Read both with :func:`config_from_args`."""
    metavar = flag.lstrip("-").upper()
    parser.add_argument(flag, dest="config", metavar=metavar, type=Path, required=required, help=help)
    if out is not None:
        out_help = f"{out} (overrides the config's `out`)"
        parser.add_argument("--out", dest="out_override", metavar="OUT", help=out_help)


def add_quiet(parser: argparse.ArgumentParser, help: str = "no progress bar") -> None:
    """``--quiet``: for logs and batch jobs, where progress bars only add noise."""
    parser.add_argument("--quiet", action="store_true", help=help)


def add_overrides(parser: argparse.ArgumentParser, help: str) -> None:
    """The ``key=value`` positional (dotted keys for sections) that config-taking commands end with;
    ``help`` should show an example."""
    parser.add_argument("overrides", nargs="*", metavar="key=value", help=help)


def config_from_args(cls: type[T], args: argparse.Namespace, *extra: str) -> T:
    """The config a command was given: its config file, then the ``key=value`` overrides, then ``extra``
    (overrides that other flags stand for), then ``--out``, so that flags win over the file."""
    overrides = [*args.overrides, *extra]
    if getattr(args, "out_override", None):
        overrides.append(f"out={args.out_override}")
    return load_config(cls, args.config, overrides)

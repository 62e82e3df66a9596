"""Configs are data: YAML files that map onto typed dataclasses.

A config file names its ``kind`` (``kind: synth``); each kind is a dataclass registered under the
``s2acc.configs`` entry-point group, so packages built on s2acc (the data pipeline, eval) add their
own kinds without s2acc importing them. Command-line overrides are ``key=value`` (dotted keys reach
nested sections); every value is checked against the field's type. The resolved config and a short
hash of it are written next to whatever a command produces, so every output says what made it.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import types
import typing
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

CONFIG_FILENAME = "config.yaml"
ENTRY_POINT_GROUP = "s2acc.configs"


class ConfigError(ValueError):
    """A config that cannot be used: the message names the file or key and the reason."""


# ---------------------------------------------------------------------------------------------
# Kinds
# ---------------------------------------------------------------------------------------------


def config_kinds() -> dict[str, str]:
    """Registered kinds, name -> "module:Class" (not imported until used)."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def config_class(kind: str) -> type:
    """The dataclass registered for ``kind``."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == kind:
            return ep.load()
    known = ", ".join(sorted(config_kinds())) or "none (is s2acc installed with pip install -e .?)"
    raise ConfigError(f"unknown config kind {kind!r}; registered kinds: {known}")


# ---------------------------------------------------------------------------------------------
# Typed conversion
# ---------------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against annotation ``tp`` and convert where lossless (int -> float, str -> Path)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{key}: expected one of {list(args)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping for section {tp.__name__}, got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}")
            pairs = enumerate(zip(value, args, strict=True))
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in pairs)
        item = args[0] if args else Any
        items = [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        vt = args[1] if args else Any
        return {str(k): _convert(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")


def _fields(cls: type) -> dict[str, tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls) if f.init}


def _unknown_key(key: str, known: list[str], prefix: str) -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    return ConfigError(f"unknown key {prefix}{key}{hint}; valid keys: {', '.join(sorted(known))}")


def from_dict(cls: type[T], data: dict, prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, checking every key and type."""
    fields = _fields(cls)
    data = {k: v for k, v in data.items() if not (prefix == "" and k in ("kind", "hash"))}
    for key in data:
        if key not in fields:
            raise _unknown_key(key, list(fields), prefix)
    kwargs = {k: _convert(v, fields[k][1], prefix + k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:  # a required field without a default, or a value refused
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {err}") from err


def to_dict(cfg: Any) -> dict:
    """Plain YAML/JSON-able mapping of a config (Paths as strings, tuples as lists)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v

    return plain(cfg)


# ---------------------------------------------------------------------------------------------
# Overrides, loading, hashing, saving
# ---------------------------------------------------------------------------------------------


def _field_type(cls: type, dotted: str) -> Any:
    """The annotation a dotted key points at, or a ConfigError naming the bad part."""
    tp: Any = cls
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(tp):
            raise ConfigError(f"{'.'.join(parts[:i])} is not a section; cannot set {dotted}")
        fields = _fields(tp)
        if part not in fields:
            raise _unknown_key(part, list(fields), "".join(p + "." for p in parts[:i]))
        tp = fields[part][1]
    return tp


def _is_str_field(tp: Any) -> bool:
    if tp in (str, Path):
        return True
    args = typing.get_args(tp)
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and any(a in (str, Path) for a in args)


def apply_overrides(cls: type, data: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """Return a copy of ``data`` with ``key=value`` overrides applied (values parsed as YAML,
    except for string fields, which take the text as written)."""
    data = json.loads(json.dumps(data, default=str))
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        tp = _field_type(cls, key)
        if _is_str_field(tp) and raw not in ("null", "~"):
            value: Any = raw
        else:
            try:
                value = yaml.safe_load(raw) if raw != "" else ""
            except yaml.YAMLError as err:
                raise ConfigError(f"override {key}: cannot parse {raw!r} ({err})") from err
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key}: {part} is not a section")
        node[parts[-1]] = value
    return data


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def load_config(
    cls: type[T] | None = None,
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> T:
    """Load a config: defaults of ``cls``, then the file at ``path``, then ``overrides``.

    With ``cls`` omitted, the file's ``kind`` picks the class.
    """
    data = read_yaml(path) if path is not None else {}
    kind = data.get("kind")
    if cls is None:
        if kind is None:
            raise ConfigError(f"{path}: no 'kind' key, so the config type is unknown")
        cls = config_class(kind)
    elif kind is not None and getattr(cls, "KIND", kind) != kind:
        raise ConfigError(f"{path}: is a {kind!r} config, expected {cls.KIND!r}")
    data = apply_overrides(cls, data, overrides)
    try:
        return from_dict(cls, data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}" if path else str(err)) from err


def config_hash(cfg: Any, length: int = 10) -> str:
    """Short sha256 of the resolved config's canonical JSON: equal configs, equal hashes."""
    blob = json.dumps(to_dict(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def dump_config(cfg: Any) -> str:
    """YAML text of the resolved config, with its kind and hash on top."""
    head = {"kind": getattr(cfg, "KIND", type(cfg).__name__), "hash": config_hash(cfg)}
    return yaml.safe_dump({**head, **to_dict(cfg)}, sort_keys=False)


def save_config(cfg: Any, out_dir: str | Path, name: str = CONFIG_FILENAME) -> Path:
    """Write the resolved config next to an output; returns the file path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    tmp = path.with_name(f".{name}.tmp")
    tmp.write_text(dump_config(cfg))
    tmp.replace(path)
    return path

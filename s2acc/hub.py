"""The weights registry: every pretrained file the project uses, where it comes from, and its checksum.

Entries live in ``s2acc/data/weights.yaml`` (data, not code). Each has a name, a source (a Hugging
Face repo + file + revision, or a URL), a sha256 where one is published, and a local path under the
weights cache: ``$S2ACC_WEIGHTS`` if set, else ``$XDG_CACHE_HOME/s2acc/weights`` (``~/.cache/...``).

Loading code calls :func:`resolve`, which never downloads: a missing file fails at once with what is
missing, where it was looked for and how to provide it; a present file is checked against its sha256
(the digest is remembered in a sidecar keyed by size and mtime, so a 15 GB file is hashed once).
Downloading is explicit, through :func:`fetch` (``s2acc weights fetch NAME``).

Models the project trains itself and ships inside the package (``kind: bundled``) are entries too: their
folder is under ``s2acc/pretrained/``, their source is the command that reproduces them, and they are
checked against their sha256 like any download.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

WEIGHTS_ENV = "S2ACC_WEIGHTS"
PACKAGE_DIR = Path(__file__).parent
BUNDLED_REGISTRY = PACKAGE_DIR / "data" / "weights.yaml"
BUNDLE_FILES = ("model.safetensors", "config.json")  # what a training export holds
Status = Literal["ok", "unverified", "missing", "mismatch"]


class WeightsError(RuntimeError):
    """A pretrained file that cannot be used; the message says what to do about it."""


class WeightsMissingError(WeightsError, FileNotFoundError):
    pass


class WeightsChecksumError(WeightsError):
    pass


@dataclass(frozen=True)
class WeightEntry:
    """One pretrained artefact: a single file, or a snapshot (a folder of files, e.g. sharded LLMs)."""

    name: str
    description: str
    used_by: str
    license: str = "unknown"
    repo: str | None = None  # Hugging Face repo id
    revision: str = "main"
    filename: str | None = None  # file inside the repo (kind=file)
    url: str | None = None  # direct download URL (kind=file, not on a hub)
    sha256: str | None = None
    size: int | None = None
    kind: Literal["file", "snapshot", "bundled"] = "file"
    files: tuple[str, ...] = field(default_factory=tuple)  # kind=snapshot: files that must be present
    checksums: dict[str, str] = field(default_factory=dict)  # snapshot, bundled: sha256 of its files
    patterns: tuple[str, ...] = field(default_factory=tuple)  # kind=snapshot: what fetch downloads
    path: str | None = None  # kind=bundled: its folder, relative to the s2acc package
    command: str | None = None  # kind=bundled: the command that reproduces it

    @property
    def source(self) -> str:
        if self.kind == "bundled":
            return f"`{self.command}`"
        if self.url:
            return self.url
        where = f"hf://{self.repo}"
        if self.filename:
            where += f"/{self.filename}"
        return where + (f"@{self.revision}" if self.revision != "main" else "")

    @property
    def local_name(self) -> str:
        """Path of the artefact relative to its entry folder."""
        if self.kind in ("snapshot", "bundled"):
            return "."
        return self.filename or Path(self.url or self.name).name

    @property
    def folder_files(self) -> tuple[str, ...]:
        """The files a folder entry must hold: a snapshot's listed files, a bundle's digested ones."""
        return self.files if self.kind == "snapshot" else tuple(self.checksums)


def cache_dir() -> Path:
    """Root of the local weights cache (configurable with ``$S2ACC_WEIGHTS``)."""
    if os.environ.get(WEIGHTS_ENV):
        return Path(os.environ[WEIGHTS_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser()
    return base / "s2acc" / "weights"


class Registry:
    """A set of :class:`WeightEntry`, read from a YAML file."""

    def __init__(self, entries: dict[str, WeightEntry], root: Path | None = None, file: Path | None = None):
        self.entries = entries
        self._root = root
        self.file = file  # the YAML it was read from

    @classmethod
    def load(cls, path: str | Path = BUNDLED_REGISTRY, root: Path | None = None) -> Registry:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        entries = {}
        for name, spec in raw.get("weights", {}).items():
            try:
                spec = {
                    **spec,
                    "files": tuple(spec.get("files", ())),
                    "patterns": tuple(spec.get("patterns", ())),
                    "checksums": spec.get("checksums", {}),
                }
                entries[name] = WeightEntry(name=name, **spec)
            except TypeError as err:
                raise WeightsError(f"{path}: entry {name!r} is malformed ({err})") from err
            entry = entries[name]
            if entry.kind == "file" and not (entry.url or (entry.repo and entry.filename)):
                raise WeightsError(f"{path}: entry {name!r} needs url, or repo and filename")
            if entry.kind == "snapshot" and not entry.repo:
                raise WeightsError(f"{path}: snapshot entry {name!r} needs a repo")
            if entry.kind == "bundled" and not (entry.path and entry.command):
                raise WeightsError(f"{path}: bundled entry {name!r} needs path and command")
        return cls(entries, root, Path(path))

    @property
    def root(self) -> Path:
        return self._root or cache_dir()

    def __getitem__(self, name: str) -> WeightEntry:
        if name not in self.entries:
            raise WeightsError(f"no weights named {name!r}; known: {', '.join(sorted(self.entries))}")
        return self.entries[name]

    def __iter__(self):
        return iter(self.entries.values())

    def path(self, name: str) -> Path:
        """Where the artefact lives (or would live) locally."""
        entry = self[name]
        if entry.kind == "bundled":
            return PACKAGE_DIR / entry.path
        folder = self.root / entry.name
        return folder if entry.kind == "snapshot" else folder / entry.local_name

    # ------------------------------------------------------------------ checking

    def status(self, name: str) -> Status:
        """ok / unverified (present, no published sha256) / missing / mismatch."""
        entry, path = self[name], self.path(name)
        if entry.kind == "bundled" and not entry.checksums:
            return "missing"  # registered, never bundled: its digests are written when it is
        if entry.kind in ("snapshot", "bundled"):
            if not path.is_dir() or _absent(path, entry.folder_files):
                return "missing"
            if any(file_sha256(path / f) != sha.lower() for f, sha in entry.checksums.items()):
                return "mismatch"
            return "ok" if entry.checksums else "unverified"
        if not path.is_file():
            return "missing"
        if _wrong_size(entry, path):
            return "mismatch"  # found without reading the file: a truncated download fails at once
        if not entry.sha256:
            return "unverified"
        return "ok" if file_sha256(path) == entry.sha256.lower() else "mismatch"

    def resolve(self, name: str) -> Path:
        """Local path of a present, verified artefact; never downloads."""
        entry, path = self[name], self.path(name)
        state = self.status(name)
        if state == "missing":
            raise WeightsMissingError(self._missing_message(entry, path))
        if state == "mismatch" and entry.kind == "bundled":
            raise WeightsChecksumError(
                f"weights {name!r} at {path} fail their sha256 check (expected {entry.checksums}): the "
                f"files changed since they were registered. Restore them from git, or rebuild them with "
                f"{entry.source} and register the new digests in s2acc/data/weights.yaml."
            )
        if state == "mismatch" and _wrong_size(entry, path):
            raise WeightsChecksumError(
                f"weights {name!r} at {path} hold {path.stat().st_size:,} bytes where {entry.size:,} are "
                f"expected: the download was cut short or is a different file. Delete it and run "
                f"`s2acc weights fetch {name}`, or place the right file from {entry.source} there."
            )
        if state == "mismatch":
            raise WeightsChecksumError(
                f"weights {name!r} at {path} fail their sha256 check "
                f"(expected {entry.sha256 or entry.checksums}). The file is corrupt or a different "
                f"version; delete it and run `s2acc weights fetch {name}`, or place the right file "
                f"from {entry.source} there."
            )
        return path

    def _missing_message(self, entry: WeightEntry, path: Path) -> str:
        if entry.kind == "bundled" and not entry.checksums:
            return (
                f"weights {entry.name!r} ({entry.description}) have not been bundled yet: build them with "
                f"{entry.source}, then `s2acc weights bundle {entry.name} EXPORT_DIR` records their digests."
            )
        if entry.kind == "bundled":
            absent = ", ".join(_absent(path, entry.folder_files))
            return (
                f"weights {entry.name!r} ({entry.description}) not found: {absent} missing from {path}. "
                f"They ship with s2acc's source; restore them from git, or rebuild them with {entry.source}."
            )
        what = f"files {', '.join(_absent(path, entry.files))} in" if entry.kind == "snapshot" else "file"
        return (
            f"weights {entry.name!r} ({entry.description}) not found: looked for {what} {path}. "
            f"Provide them with `s2acc weights fetch {entry.name}` on a machine with network access "
            f"(source: {entry.source}), or download them yourself and place them at {path}, or point "
            f"${WEIGHTS_ENV} at a folder that holds {entry.name}/{entry.local_name}."
        )

    # ------------------------------------------------------------------ bundling

    def bundle(self, name: str, export: str | Path) -> dict[str, str]:
        """Copy a training export (``model.safetensors`` + ``config.json``) into a bundled entry's folder
        and write the files' sha256 into the registry file, so the model and its digests change together."""
        entry = self[name]
        if entry.kind != "bundled":
            raise WeightsError(f"{name!r} is a {entry.kind} entry; only bundled entries take an export")
        export = Path(export)
        missing = [f for f in BUNDLE_FILES if not (export / f).is_file()]
        if missing:
            raise WeightsError(f"{export}: no {', '.join(missing)} (a training export folder is expected)")
        dest = self.path(name)
        dest.mkdir(parents=True, exist_ok=True)
        for f in BUNDLE_FILES:
            shutil.copyfile(export / f, dest / f)
        digests = {f: file_sha256(dest / f) for f in BUNDLE_FILES}
        if self.file is None:
            raise WeightsError("this registry was not read from a file; nowhere to record the digests")
        self.file.write_text(_with_checksums(self.file.read_text(), name, digests))
        self.entries[name] = dataclasses.replace(entry, checksums=digests)
        return digests

    # ------------------------------------------------------------------ downloading

    def fetch(self, name: str, force: bool = False) -> Path:
        """Download (when online) and verify; a file that fails its checksum is not kept."""
        entry, path = self[name], self.path(name)
        if entry.kind == "bundled":
            return self.resolve(name)  # nothing to download: it ships with the source
        if not force and self.status(name) in ("ok", "unverified"):
            return path
        if entry.repo and _hub_offline():
            raise WeightsError(
                f"cannot fetch {name!r} from {entry.source}: HF_HUB_OFFLINE is set. Unset it on a machine "
                f"with network access, or place the file(s) at {path} by hand."
            )
        if entry.kind == "snapshot":
            from huggingface_hub import snapshot_download

            patterns = list(entry.patterns) or None
            snapshot_download(entry.repo, revision=entry.revision, local_dir=path, allow_patterns=patterns)
        elif entry.url:
            _download_url(entry.url, path)
        else:
            from huggingface_hub import hf_hub_download

            downloaded = hf_hub_download(entry.repo, entry.filename, revision=entry.revision)
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(downloaded, path)
        if self.status(name) == "mismatch":
            expected = (
                {path: entry.sha256}
                if entry.kind == "file"
                else {path / f: sha for f, sha in entry.checksums.items()}
            )
            bad = [p for p, sha in expected.items() if file_sha256(p) != sha.lower()]
            for p in bad:
                p.unlink()
            raise WeightsChecksumError(
                f"downloaded {name!r} from {entry.source} but {', '.join(p.name for p in bad)} failed the "
                f"sha256 check and was removed. The source may have changed: check the revision."
            )
        return self.resolve(name)


def _with_checksums(text: str, name: str, digests: dict[str, str]) -> str:
    """The registry YAML with entry ``name``'s ``checksums`` block replaced (comments elsewhere kept)."""
    lines = text.splitlines()
    try:
        start = lines.index(f"  {name}:")
        at = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == "checksums:")
    except (ValueError, StopIteration):
        raise WeightsError(f"entry {name!r} has no block `checksums:` line to update") from None
    end = at + 1
    while end < len(lines) and lines[end].startswith("      "):
        end += 1
    block = [f"      {file}: {digest}" for file, digest in digests.items()]
    return "\n".join([*lines[: at + 1], *block, *lines[end:]]) + "\n"


def _absent(folder: Path, files: tuple[str, ...]) -> list[str]:
    """The listed files missing from a snapshot folder, and the shards that a listed
    ``*.safetensors.index.json`` names but the folder lacks (a half-finished download)."""
    absent = [f for f in files if not (folder / f).is_file()]
    for index in (f for f in files if f.endswith(".index.json") and (folder / f).is_file()):
        try:
            shards = sorted(set(json.loads((folder / index).read_text())["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise WeightsError(f"{folder / index} is not a safetensors index ({error})") from error
        absent += [s for s in shards if not (folder / index).parent.joinpath(s).is_file()]
    return absent


def _wrong_size(entry: WeightEntry, path: Path) -> bool:
    if entry.kind != "file" or entry.size is None or not path.is_file():
        return False
    return path.stat().st_size != entry.size


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _download_url(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out, length=1 << 20)
        os.replace(tmp, dest)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise WeightsError(f"download of {url} failed ({err})") from err
        raise


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered in ``<file>.sha256`` alongside its size and mtime."""
    path = Path(path)
    stat = path.stat()
    stamp = f"{stat.st_size} {stat.st_mtime_ns}"
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file():
        digest, _, recorded = sidecar.read_text().strip().partition(" ")
        if recorded == stamp:
            return digest
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    digest = h.hexdigest()
    try:
        sidecar.write_text(f"{digest} {stamp}\n")
    except OSError:  # a read-only cache still verifies, it just hashes again next time
        pass
    return digest


_default: Registry | None = None


def default_registry() -> Registry:
    """The bundled registry (cache root read from the environment at each call)."""
    global _default
    if _default is None:
        _default = Registry.load()
    return _default


def resolve(name: str) -> Path:
    """Shortcut: local path of a verified artefact from the bundled registry."""
    return default_registry().resolve(name)

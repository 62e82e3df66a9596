"""Validation of a challenge submission: a flat zip (or folder) of ``{id}.wav``, one per prompt.

Every problem is collected, not just the first, each naming the file and the reason, so one run of
the validator tells an entrant everything to fix. What is checked (the ATTM submission rules, plus
faults that would make the scores meaningless):

- the package: readable zip or folder; flat (no folders, no absolute or ``..`` names);
- the names: exactly one ``{id}.wav`` per prompt id; no missing, extra or duplicate ids; nothing else
  but an optional ``manifest.json``;
- each file: a WAV that decodes, at 44.1 kHz, at least 10 s long; in the first 10 s (what is scored)
  no NaN or inf, not silent, not clipped on more than ``max_clipped`` of its samples.
"""

from __future__ import annotations

import csv
import re
import zipfile
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
import soundfile as sf

from s2acc.rates import SAMPLE_RATE, SCORED_SECONDS

MANIFEST = "manifest.json"
SILENCE_PEAK = 1e-4  # -80 dBFS
CLIP_LEVEL = 0.999
# No entry is inflated past what a clip can be: 60 s of 44.1 kHz stereo at 64 bits a sample, plus header.
MAX_CLIP_SECONDS = 60.0
MAX_CLIP_BYTES = int(MAX_CLIP_SECONDS * SAMPLE_RATE * 2 * 8) + 65536
MANIFEST_BYTES = 1 << 20


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    checked: int = 0  # audio files examined

    @property
    def ok(self) -> bool:
        return not self.errors

    def __str__(self) -> str:
        if self.ok:
            return f"valid: {self.checked} files"
        return f"{len(self.errors)} problem(s):\n" + "\n".join(f"  - {e}" for e in self.errors)


def read_prompt_ids(path: str | Path) -> list[str]:
    """Ids of an ``id,prompt`` CSV, in file order; raises ValueError on a malformed file."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets write a BOM
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "id" not in reader.fieldnames:
            raise ValueError(f"{path}: needs an 'id' column (id,prompt)")
        ids = [str(row["id"]).strip() for row in reader]
    if not ids:
        raise ValueError(f"{path}: no prompts")
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"{path}: duplicate prompt ids {dupes}")
    if any(not i or "/" in i or "\\" in i for i in ids):
        raise ValueError(f"{path}: empty ids or ids with path separators")
    return ids


@dataclass(frozen=True)
class Entry:
    """One file of a package: its (uncompressed, as declared) size and how to open it as a stream."""

    size: int
    open: Callable[[], BinaryIO]


def _entries(package: Path, report: Report, stack: ExitStack) -> dict[str, Entry] | None:
    """name -> entry of every file in the package; None when the package itself is unreadable.
    Nothing is read here: the archive's directory is enough (the archive stays open on ``stack``)."""
    if package.is_dir():
        out = {}
        for p in sorted(package.rglob("*")):
            rel = p.relative_to(package).as_posix()
            if p.is_symlink():
                report.errors.append(f"{rel}: a symbolic link; submit the files themselves")
                continue
            if p.is_dir():
                continue
            if "/" in rel:
                report.errors.append(f"{rel}: inside a folder; the package must be flat")
                continue
            out[rel] = Entry(p.stat().st_size, lambda p=p: p.open("rb"))
        return out
    try:
        archive = zipfile.ZipFile(package)
    except (zipfile.BadZipFile, OSError) as err:
        report.errors.append(f"{package}: not a readable zip file ({err})")
        return None
    stack.enter_context(archive)
    out: dict[str, Entry] = {}
    names = [i.filename for i in archive.infolist() if not i.is_dir()]
    for name in sorted({n for n in names if names.count(n) > 1}):
        report.errors.append(f"{name}: appears {names.count(name)} times in the zip")
    for info in archive.infolist():
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if info.is_dir():
            report.errors.append(f"{name}: a folder; the package must be flat")
        elif name.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", name):
            report.errors.append(f"{name}: escapes the package folder")
        elif len(parts) != 1:
            report.errors.append(f"{name}: inside a folder; the package must be flat")
        elif name not in out:
            out[name] = Entry(info.file_size, lambda info=info: archive.open(info))
    return out


def too_large(name: str, size: int) -> str | None:
    """The problem with an entry bigger than any clip can be, found before a byte of it is inflated."""
    limit = MANIFEST_BYTES if name == MANIFEST else MAX_CLIP_BYTES
    if size <= limit:
        return None
    what = "a manifest" if name == MANIFEST else f"a clip of up to {MAX_CLIP_SECONDS:g} s of 44.1 kHz stereo"
    return f"{name}: {size / 1e6:,.1f} MB once unpacked, more than {what} can be ({limit / 1e6:,.1f} MB)"


UNREADABLE = (sf.LibsndfileError, RuntimeError, TypeError, zipfile.BadZipFile, zlib.error, EOFError,
              NotImplementedError, OSError)  # fmt: skip


def check_audio(name: str, entry: Entry, max_clipped: float) -> list[str]:
    """Problems of one WAV file (empty list when it is fine): the entry is read through once in chunks
    (a zip member's CRC is checked at its end), then only its header and first 10 s are decoded."""
    try:
        with entry.open() as stream:
            while stream.read(1 << 20):
                pass
    except UNREADABLE as err:
        return [f"{name}: cannot be read ({_reason(err)})"]
    with ExitStack() as stack:
        try:
            f = stack.enter_context(sf.SoundFile(stack.enter_context(entry.open())))
        except UNREADABLE as err:
            return [f"{name}: not a readable audio file ({_reason(err)})"]
        if f.format not in ("WAV", "WAVEX"):  # WAVEX: the extensible header of >16-bit files
            return [f"{name}: a {f.format} file named .wav; submit WAV"]
        problems = []
        if f.samplerate != SAMPLE_RATE:
            problems.append(f"{name}: sample rate {f.samplerate} Hz, must be {SAMPLE_RATE}")
        if f.frames < SCORED_SECONDS * f.samplerate:
            problems.append(
                f"{name}: {f.frames / f.samplerate:.2f} s long, must be at least {SCORED_SECONDS:g} s"
            )
        try:
            audio = f.read(frames=int(SCORED_SECONDS * f.samplerate), dtype="float32", always_2d=True)
        except UNREADABLE as err:
            return problems + [f"{name}: decoding failed ({_reason(err)})"]
    if not np.all(np.isfinite(audio)):
        return problems + [f"{name}: NaN or infinite samples in the first {SCORED_SECONDS:g} s"]
    if audio.size == 0 or np.abs(audio).max() < SILENCE_PEAK:
        problems.append(f"{name}: silent in the first {SCORED_SECONDS:g} s (peak below -80 dBFS)")
    else:
        clipped = float(np.mean(np.abs(audio) >= CLIP_LEVEL))
        if clipped > max_clipped:
            problems.append(f"{name}: {100 * clipped:.2f}% of samples clipped (limit {100 * max_clipped:g}%)")
    return problems


def _reason(err: BaseException) -> str:
    """An error in the user's terms: a damaged zip member, or what the decoder said."""
    if isinstance(err, (zipfile.BadZipFile, zlib.error, EOFError)):
        return f"the zip holds it damaged: {err}"
    if isinstance(err, NotImplementedError):
        return f"packed with a method this validator cannot unpack: {err}"
    return str(err)


def validate(package: str | Path, prompts: str | Path, max_clipped: float = 0.001) -> Report:
    """Check ``package`` (zip or folder) against the prompt ids in ``prompts``."""
    report = Report()
    package = Path(package)
    ids = read_prompt_ids(prompts)
    if not package.exists():
        report.errors.append(f"{package}: does not exist")
        return report
    with ExitStack() as stack:
        entries = _entries(package, report, stack)
        if entries is None:
            return report
        expected = {f"{i}.wav": i for i in ids}
        audio = {}
        for name in sorted(entries):
            if name == MANIFEST:
                problem = too_large(name, entries[name].size)
                report.errors += [problem] if problem else []
                continue
            if name in expected:
                audio[name] = entries[name]
            elif name.lower() in {e.lower() for e in expected}:
                report.errors.append(
                    f"{name}: wrong letter case; the file for that prompt must be named exactly"
                )
            elif name.lower().endswith(".wav"):
                report.errors.append(f"{name}: no prompt has id {name[:-4]!r}")
            else:
                report.errors.append(f"{name}: not a {{id}}.wav file")
        missing = [n for n in expected if n not in audio]
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            report.errors.append(f"missing {len(missing)} of {len(ids)} files: {shown}")
        for name, entry in audio.items():
            problem = too_large(name, entry.size)
            report.errors += [problem] if problem else check_audio(name, entry, max_clipped)
            report.checked += 1
    return report

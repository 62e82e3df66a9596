"""Styles: the musical families the corpus draws from, each with its tempi, voices, grooves and tags.

A style fixes what a listener (and a caption) would name: genre, instrumentation, mood. The styles are
data, ``s2acc/data/synth_styles.yaml``. Tags are MTG-Jamendo tags (``s2acc/data/jamendo_tags.yaml``);
the tests check every one is in that vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import yaml


@dataclass(frozen=True)
class Style:
    name: str
    genres: tuple[str, ...]  # MTG-Jamendo genre tags; the first is the main one
    tempo: tuple[float, float]  # BPM range
    meters: tuple[int, ...]  # beats per bar it may use
    kit: str  # "acoustic" | "electronic"
    groove: str  # main drum pattern, see compose.DRUM_PATTERNS
    chords: tuple[str, ...]  # voice presets for the harmonic part
    leads: tuple[str, ...]  # voice presets for the melody
    basses: tuple[str, ...]  # voice presets for the bass
    moods_major: tuple[str, ...]  # MTG-Jamendo mood/theme tags
    moods_minor: tuple[str, ...]
    reverb: tuple[float, float]  # reverb time range, seconds
    words: str  # how a caption names the genre


_DATA = yaml.safe_load(resources.files("s2acc").joinpath("data/synth_styles.yaml").read_text())
STYLES: dict[str, Style] = {  # the file's lists become the tuples of a frozen Style
    name: Style(name, **{key: tuple(v) if isinstance(v, list) else v for key, v in fields.items()})
    for name, fields in _DATA.items()
}

DRUM_TAG = {"acoustic": "drums", "electronic": "drummachine"}
DRUM_WORDS = {"acoustic": "live drums", "electronic": "a drum machine"}
BASS_TAG = "bass"

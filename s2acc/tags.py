"""The MTG-Jamendo tag vocabulary (genre, instrument, mood/theme), bundled as package data.

Used to tag the embedded corpus, to write benchmark prompts and to find concepts in prompt text.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

CATEGORIES = ("genre", "instrument", "mood/theme")


@cache
def tag_counts() -> dict[str, dict[str, int]]:
    """Category -> {tag: number of tracks carrying it in MTG-Jamendo}, most frequent first."""
    text = resources.files("s2acc").joinpath("data/jamendo_tags.yaml").read_text()
    data = yaml.safe_load(text)
    return {c: dict(data[c]) for c in CATEGORIES}


def vocabulary() -> dict[str, list[str]]:
    """Category -> tags, most frequent first."""
    return {c: list(counts) for c, counts in tag_counts().items()}


# Tags are written without spaces; these are the ones a caption should spell out.
PHRASES = {
    "easylistening": "easy listening",
    "hiphop": "hip hop",
    "newage": "new age",
    "poprock": "pop rock",
    "popfolk": "pop folk",
    "instrumentalpop": "instrumental pop",
    "triphop": "trip hop",
    "electropop": "electropop",
    "singersongwriter": "singer-songwriter",
    "punkrock": "punk rock",
    "synthpop": "synth-pop",
    "instrumentalrock": "instrumental rock",
    "darkambient": "dark ambient",
    "drumnbass": "drum and bass",
    "hardrock": "hard rock",
    "deephouse": "deep house",
    "postrock": "post-rock",
    "rocknroll": "rock and roll",
    "acidjazz": "acid jazz",
    "classicrock": "classic rock",
    "jazzfusion": "jazz fusion",
    "alternativerock": "alternative rock",
    "worldfusion": "world fusion",
    "newwave": "new wave",
    "bossanova": "bossa nova",
    "bluesrock": "blues rock",
    "rnb": "R&B",
    "electricguitar": "electric guitar",
    "acousticguitar": "acoustic guitar",
    "drummachine": "drum machine",
    "electricpiano": "electric piano",
    "classicalguitar": "classical guitar",
    "doublebass": "double bass",
    "acousticbassguitar": "acoustic bass guitar",
    "pipeorgan": "pipe organ",
    "bell": "bells",
}


def phrase(tag: str) -> str:
    """How a caption writes a tag: ``electricpiano`` -> ``electric piano``."""
    return PHRASES.get(tag, tag)

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

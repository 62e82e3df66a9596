"""Benchmark prompts in the manner of the challenge's: caption-like sentences from concept triplets.

The hidden test prompts were written by an audio-language model from (genre, instrument, mood) tags of
the MTG-Jamendo vocabulary, e.g. "An energetic rock track driven by a bold electric guitar, pulsing
with intensity and raw power." Here triplets are drawn with probabilities proportional to each tag's
frequency in MTG-Jamendo (so common tags dominate, as in the data), and written with a few sentence
patterns. The triplet is kept as columns, so CCS can read the concepts directly.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from s2acc.tags import phrase, tag_counts

PATTERNS = (
    "{A_mood} {genre} track featuring {instrument}.",
    "{A_mood} {genre} piece driven by {instrument}.",
    "{Genre} music with {instrument}, {mood} in tone.",
    "{A_genre} instrumental built around {instrument}, with {a_mood} feel.",
    "This {genre} track puts {instrument} up front and sounds {mood}.",
)
# Mood tags that read as nouns ("film", "christmas") are written as "a mood of ...".
NOUN_MOODS = {
    "film", "love", "dream", "advertising", "christmas", "documentary", "corporate", "summer", "space",
    "background", "fun", "soundscape", "children", "adventure", "commercial", "drama", "movie", "action",
    "ballad", "trailer", "party", "game", "nature", "sport", "holiday", "travel",
}  # fmt: skip


# Instrument tags that take no article: plurals and mass nouns.
NO_ARTICLE = {"drums", "strings", "percussion", "brass", "bells", "voice", "bass", "computer", "beat"}


def _draw(rng: np.random.Generator, counts: dict[str, int]) -> str:
    tags = list(counts)
    p = np.array([counts[t] for t in tags], float)
    return str(rng.choice(tags, p=p / p.sum()))


def _a(words: str) -> str:
    return ("an " if words[:1].lower() in "aeiou" else "a ") + words


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def write_prompt(genre: str, instrument: str, mood: str, rng: np.random.Generator) -> str:
    mood_words = f"{phrase(mood)}-themed" if mood in NOUN_MOODS else phrase(mood)
    genre_words = phrase(genre)
    return str(rng.choice(PATTERNS)).format(
        genre=genre_words,
        Genre=_cap(genre_words),
        A_genre=_cap(_a(genre_words)),
        instrument=phrase(instrument) if instrument in NO_ARTICLE else _a(phrase(instrument)),
        mood=mood_words,
        a_mood=_a(mood_words),
        A_mood=_cap(_a(mood_words)),
    )


def benchmark_prompts(n: int = 100, seed: int = 0) -> list[dict[str, str]]:
    """``n`` prompts (id, prompt, genre, instrument, mood), deterministic in ``seed``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    counts = tag_counts()
    rows = []
    for i in range(n):
        genre, instrument, mood = (_draw(rng, counts[c]) for c in ("genre", "instrument", "mood/theme"))
        rows.append(
            {
                "id": f"p{i:03d}",
                "prompt": write_prompt(genre, instrument, mood, rng),
                "genre": genre,
                "instrument": instrument,
                "mood": mood,
            }
        )
    return rows


def write_prompts_csv(rows: list[dict[str, str]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def corpus_prompts(corpus: str | Path, n: int | None = None) -> list[dict[str, str]]:
    """Prompts from a synthesised corpus's own captions (``truth.parquet``), one per original track
    (damaged copies are left out), carrying the tempo, key, genre, instruments and mood each caption
    states, so a generated clip's adherence to them can be measured. ``n`` keeps the first n tracks."""
    import pandas as pd

    path = Path(corpus) / "truth.parquet"
    if not path.is_file():
        raise ValueError(f"{path} is missing: {corpus} is not a corpus written by s2acc synth")
    truth = pd.read_parquet(path)
    missing = [c for c in ("track_id", "caption", "tempo", "key", "defect") if c not in truth.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    originals = truth[truth["defect"].fillna("") == ""].sort_values("track_id")
    if n is not None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        originals = originals.head(n)

    def words(value) -> str:
        return value if isinstance(value, str) else ", ".join(str(v) for v in value)

    return [
        {
            "id": str(row.track_id),
            "prompt": str(row.caption),
            "tempo": f"{float(row.tempo):.1f}",
            "key": str(row.key),
            "genre": words(row.genre),
            "instrument": words(row.instrument),
            "mood": words(row.mood),
        }
        for row in originals.itertuples()
    ]

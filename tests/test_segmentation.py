"""Structure segmentation and the fitting of sections into training clips."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest

from data_pipeline.segmentation import (
    LABELS,
    Section,
    fit_segments,
    foote_novelty,
    make_segmenter,
    novelty_peaks,
)
from s2acc.leadsheet import extract_leadsheet
from s2acc.synth.corpus import SynthConfig, generate_track

SR = 44100


def test_fitted_clips_stay_in_range_and_cut_on_beats():
    beats = np.arange(0.0, 100.0, 2.0)  # a downbeat every 2 s
    sections = [
        Section(0, 4, "intro"),
        Section(4, 40, "verse"),
        Section(40, 46, "chorus"),
        Section(46, 99, "outro"),
    ]
    clips = fit_segments(sections, beats, 99.0, 10.0, 20.0)
    assert all(10.0 - 1e-6 <= c.end - c.start <= 20.0 + 1e-6 for c in clips)
    assert all(a.end <= b.start + 1e-9 for a, b in zip(clips, clips[1:], strict=False))
    inner = [c.start for c in clips[1:]]
    assert all(np.min(np.abs(beats - t)) < 1e-6 for t in inner)
    assert {c.label for c in clips} <= set(LABELS)
    assert clips[0].label == "verse"  # the 4 s intro joined the verse, which is longer


def test_a_track_shorter_than_the_minimum_gives_nothing():
    assert fit_segments([Section(0, 8, "verse")], np.arange(0, 8, 0.5), 8.0, 10.0, 30.0) == []
    with pytest.raises(ValueError):
        fit_segments([], np.array([]), 10.0, 5.0, 4.0)


def test_long_sections_without_beats_split_evenly():
    clips = fit_segments([Section(0, 65, "inst")], np.array([]), 65.0, 10.0, 30.0)
    assert [round(c.end - c.start, 3) for c in clips] == [21.667] * 3


def test_spectral_segmenter_finds_the_composed_sections():
    track = generate_track(SynthConfig(seed=2, n_tracks=2, min_seconds=60, max_seconds=90, format="wav"), 1)
    sheet = extract_leadsheet(track.audio, SR, backend="librosa")
    sections = make_segmenter("spectral").segment(
        track.audio, SR, beats=sheet.beats, downbeats=sheet.downbeats
    )
    assert sections[0].start == 0.0 and sections[-1].end == pytest.approx(track.audio.shape[1] / SR)
    assert all(s.label in LABELS for s in sections)
    ref = np.array([[s["start"], s["end"]] for s in track.truth["sections"]])
    est = np.array([[s.start, s.end] for s in sections])
    est[-1, 1] = ref[-1, 1] = max(est[-1, 1], ref[-1, 1])
    _, _, f3 = mir_eval.segment.detection(ref, est, window=3.0, trim=True)
    assert f3 >= 0.5  # one track; benchmarks/segmentation_accuracy.py measures the corpus mean


def test_novelty_peaks_where_the_features_change_and_nowhere_else():
    """Three blocks of noisy features (a verse, a chorus, the verse again): the novelty curve peaks at
    the two changes, scores about 2 for opposite blocks, and stays low inside each block."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=12), rng.normal(size=12)
    rows = np.concatenate([np.tile(a, (40, 1)), np.tile(b, (32, 1)), np.tile(a, (40, 1))])
    features = rows + 0.1 * rng.normal(size=rows.shape)
    novelty = foote_novelty(features, half=8)
    assert novelty_peaks(novelty, threshold=0.4, half=8) == [40, 72]
    inside = np.r_[10:30, 50:62, 82:102]
    assert novelty[inside].max() < 0.4 < 1.0 < min(novelty[40], novelty[72])
    assert novelty_peaks(foote_novelty(np.tile(a, (100, 1)), half=8), threshold=0.4, half=8) == []


def test_unknown_segmenter():
    with pytest.raises(ValueError, match="spectral"):
        make_segmenter("songformer")


def test_cuts_fall_back_inside_the_range_when_no_beat_fits():
    # Downbeats every 6.5 s leave no beat where the third cut of this section must go.
    beats = np.array([6.51, 19.53, 32.56, 45.0, 49.5, 61.87])
    clips = fit_segments([Section(6.51, 61.87, "chorus")], beats, 61.87, 5.0, 15.0)
    assert len(clips) == 4
    assert all(5.0 - 1e-6 <= c.end - c.start <= 15.0 + 1e-6 for c in clips), clips

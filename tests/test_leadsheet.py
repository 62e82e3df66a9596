"""Lead-sheet extraction on synthesised tracks with known beats, chords, key and melody."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest

from s2acc.leadsheet import CHORD_LABELS, NO_CHORD, LeadSheet, chord_index, extract_leadsheet
from s2acc.leadsheet.harmony import estimate_key
from s2acc.synth.corpus import SynthConfig, generate_track

SR = 44100


@pytest.fixture(scope="module")
def track():
    cfg = SynthConfig(seed=1, n_tracks=1, min_seconds=20, max_seconds=20, format="wav")
    return generate_track(cfg, 0, stems=True)


@pytest.fixture(scope="module")
def sheet(track):
    harmonic = sum(track.stems[p] for p in ("bass", "chords", "melody"))
    return extract_leadsheet(track.audio, SR, harmonic=harmonic, backend="librosa")


def chord_accuracy(sheet: LeadSheet, truth: dict) -> float:
    ref_i = np.array([[c["start"], c["end"]] for c in truth["chords"]])
    ref_l = [c["label"] for c in truth["chords"]]
    est_i = np.array([[s, e] for s, e, _ in sheet.chords])
    est_i, est_l = mir_eval.util.adjust_intervals(
        est_i, [c[2] for c in sheet.chords], ref_i.min(), ref_i.max(), "N", "N"
    )
    ints, r, e = mir_eval.util.merge_labeled_intervals(ref_i, ref_l, est_i, est_l)
    return mir_eval.chord.weighted_accuracy(
        mir_eval.chord.majmin(r, e), mir_eval.util.intervals_to_durations(ints)
    )


def test_beats_tempo_and_chords_match_the_score(sheet, track):
    truth = track.truth
    assert mir_eval.beat.f_measure(np.asarray(truth["beats"]), sheet.beats) >= 0.8
    assert sheet.tempo == pytest.approx(truth["tempo"], rel=0.04)
    assert chord_accuracy(sheet, truth) >= 0.6
    assert set(sheet.downbeats) <= set(sheet.beats)


def test_frame_arrays_sit_on_the_latent_grid(sheet, track):
    duration = track.audio.shape[1] / SR
    assert sheet.frame_rate == pytest.approx(44100 / 2048)
    assert sheet.n_frames == int(np.ceil(duration * sheet.frame_rate))
    assert sheet.chroma.shape == (sheet.n_frames, 12)
    assert sheet.chord.min() >= 0 and sheet.chord.max() <= NO_CHORD
    voiced = sheet.voicing > 0.5
    assert np.all(sheet.pitch_class[~voiced] == -1) and np.all(sheet.pitch_class[voiced] >= 0)
    assert np.all(sheet.f0[~voiced] == 0) and np.all(sheet.f0[voiced] > 50)
    assert sheet.beat.sum() == pytest.approx(len(sheet.beats), abs=1)
    assert 0.0 <= sheet.onset.min() and sheet.onset.max() == pytest.approx(1.0)
    # The chord array repeats the chord intervals frame by frame.
    mid = int(sheet.n_frames / 2)
    t = (mid + 0.5) / sheet.frame_rate
    label = next(lab for s, e, lab in sheet.chords if s <= t < e)
    assert sheet.chord[mid] == chord_index(label)


def test_melody_follows_the_lead_line(track):
    sheet = extract_leadsheet(track.audio, SR, harmonic=track.stems["melody"], backend="librosa")
    times = np.arange(0, track.truth["duration"], 0.01)
    ref = np.zeros_like(times)
    for n in track.truth["melody"]:
        ref[(times >= n["start"]) & (times < n["end"])] = 440 * 2 ** ((n["pitch"] - 69) / 12)
    est_t = (np.arange(sheet.n_frames) + 0.5) / sheet.frame_rate
    scores = mir_eval.melody.evaluate(times, ref, est_t, sheet.f0)
    assert scores["Raw Pitch Accuracy"] >= 0.6


def test_save_and_load_round_trip(sheet, tmp_path):
    path = tmp_path / "sheet.npz"
    sheet.save(path)
    back = LeadSheet.load(path)
    assert back.summary() == sheet.summary()
    for name in ("beats", "downbeats", "chord", "chroma", "f0", "voicing", "pitch_class", "onset"):
        np.testing.assert_array_equal(getattr(back, name), getattr(sheet, name))
    assert back.chords == sheet.chords


def test_silence_gives_an_empty_sheet():
    sheet = extract_leadsheet(np.zeros((2, SR * 5), np.float32), SR, backend="librosa")
    assert len(sheet.beats) == 0 and sheet.key is None
    assert np.all(sheet.voicing == 0) and np.all(sheet.chord == NO_CHORD)


def test_madmom_backend_tracks_beats_and_downbeats(track):
    sheet = extract_leadsheet(track.audio, SR, backend="madmom")
    assert sheet.backend["beats"].startswith("madmom")
    assert mir_eval.beat.f_measure(np.asarray(track.truth["beats"]), sheet.beats) >= 0.9
    assert mir_eval.beat.f_measure(np.asarray(track.truth["downbeats"]), sheet.downbeats) >= 0.8


def test_key_profiles_and_labels():
    c_major = np.zeros(12)
    c_major[[0, 4, 7]] = 1.0
    c_major[[2, 5, 9, 11]] = 0.5
    assert estimate_key(c_major)[0] == "C major"
    assert estimate_key(np.roll(c_major, 9))[0] == "A major"
    assert estimate_key(np.ones(12)) == (None, 0.0)
    assert CHORD_LABELS[chord_index("A:min")] == "A:min" and len(CHORD_LABELS) == 25
    with pytest.raises(ValueError, match="A:7"):
        chord_index("A:7")
    with pytest.raises(ValueError, match="unknown|must be one of"):
        extract_leadsheet(np.zeros(SR), SR, backend="crepe")


def test_salience_takes_held_accompaniment_down_more_than_passing_notes():
    """A chord tone held for 4 s and a tune of short notes over it, at the same level: removing part of
    each bin's running minimum lowers the held tone's salience relative to the tune's."""
    from s2acc.leadsheet.melody import ANALYSIS_SR, BINS_PER_SEMITONE, FMIN_BIN, HOP, salience

    sr, seconds = ANALYSIS_SR, 4.0
    t = np.arange(int(sr * seconds)) / sr
    held = 0.3 * np.sin(2 * np.pi * 220.0 * t)  # A3 throughout
    tune_midi = np.repeat([72, 76, 79, 74, 77, 81, 72, 76], len(t) // 8 + 1)[: len(t)]  # 0.5 s notes
    tune = 0.3 * np.sin(2 * np.pi * np.cumsum(440.0 * 2 ** ((tune_midi - 69) / 12)) / sr)
    y = (held + tune).astype(np.float32)

    def level(sal: np.ndarray, midi: np.ndarray) -> float:
        rows = np.round((midi - FMIN_BIN) * BINS_PER_SEMITONE).astype(int)
        return float(np.mean(sal[rows, np.arange(sal.shape[1])]))

    frames = salience(y, background=0.0).shape[1]
    frame_midi = tune_midi[np.minimum(np.arange(frames) * HOP, len(t) - 1)]
    ratios = {}
    for share in (0.0, 0.5):
        sal = salience(y, background=share)
        ratios[share] = level(sal, np.full(frames, 57)) / level(sal, frame_midi)
    assert ratios[0.5] < 0.8 * ratios[0.0]


def test_salience_prefers_a_sounding_fundamental_over_its_sub_octave():
    """A strike with partials at f and 2.5 f (an FM bell's carrier and its first sideband at half its
    level): the octave below f collects both as its 2nd and 5th harmonics and wins the plain harmonic
    sum; scaled by its own silent bin it loses to f, in every frame of every note."""
    from s2acc.leadsheet.melody import ANALYSIS_SR, BINS_PER_SEMITONE, FMIN_BIN, HOP, MELODY_RANGE, salience

    sr = ANALYSIS_SR
    tune = [72, 76, 79, 74]  # 0.5 s each
    t = np.arange(sr // 2) / sr
    notes = []
    for midi in tune:
        f = 440.0 * 2 ** ((midi - 69) / 12)
        notes.append(
            0.3 * (np.sin(2 * np.pi * f * t) + 0.5 * np.sin(2 * np.pi * 2.5 * f * t)) * np.exp(-t / 0.4)
        )
    y = np.concatenate(notes).astype(np.float32)
    lo = int(round((MELODY_RANGE[0] - FMIN_BIN) * BINS_PER_SEMITONE))
    hi = int(round((MELODY_RANGE[1] - FMIN_BIN) * BINS_PER_SEMITONE))
    # frames well inside each note, clear of the onsets' spectral smear
    frames = np.concatenate(
        [np.arange(int((k * 0.5 + 0.1) * sr / HOP), int((k * 0.5 + 0.4) * sr / HOP)) for k in range(4)]
    )
    truth = np.repeat(tune, len(frames) // len(tune))

    def strongest(sal: np.ndarray) -> np.ndarray:
        bins = lo + np.argmax(sal[lo:hi, frames], axis=0)
        return np.round(FMIN_BIN + bins / BINS_PER_SEMITONE).astype(int)

    assert np.array_equal(strongest(salience(y, background=0.0, fundamental=0.0)), truth - 12)
    assert np.array_equal(strongest(salience(y, background=0.0)), truth)

"""The embedded corpus: deterministic, well-formed, and its ground truth matches its audio."""

from __future__ import annotations

import json

import librosa
import numpy as np
import pandas as pd
import pytest

from s2acc.audio import read_audio
from s2acc.config import ConfigError
from s2acc.synth.compose import compose
from s2acc.synth.corpus import SynthConfig, damaged_copy, defect_plan, generate_corpus, generate_track
from s2acc.synth.instruments import VOICE_PRESETS, draw_voice
from s2acc.synth.styles import DRUM_TAG, STYLES
from s2acc.synth.theory import chord_templates, parse_chord
from s2acc.tags import vocabulary

SR = 44100


def cfg(**kw) -> SynthConfig:
    base = dict(seed=7, n_tracks=4, min_seconds=20.0, max_seconds=20.0, format="wav")
    return SynthConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def tracks():
    """One 24 s track per style family the tests care about, with stems."""
    out = []
    for i, style in enumerate(["electronic", "rock", "jazz", "hiphop", "folk", "ambient"]):
        out.append(generate_track(cfg(styles=[style], min_seconds=24.0, max_seconds=24.0), i, stems=True))
    return out


def test_same_seed_same_track_other_seed_other_track():
    a, b = generate_track(cfg(), 1), generate_track(cfg(), 1)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.truth == b.truth
    c = generate_track(cfg(seed=8), 1)
    assert c.audio.shape != a.audio.shape or not np.array_equal(c.audio, a.audio)
    assert generate_track(cfg(), 2).truth["track_id"] == a.truth["track_id"] + 1


def test_track_is_stereo_44k_within_bounds_and_stems_sum_to_mix(tracks):
    for t in tracks:
        assert t.audio.dtype == np.float32 and t.audio.shape == (2, int(round(24.0 * SR)))
        assert np.isfinite(t.audio).all() and 0.1 < np.abs(t.audio).max() <= 1.0
        assert not np.allclose(t.audio[0], t.audio[1])  # panned, so truly stereo
        np.testing.assert_allclose(sum(t.stems.values()), t.audio, atol=2e-3)
        assert 60 <= t.truth["tempo"] <= 180


def test_durations_span_the_configured_range():
    durations = [generate_track(cfg(min_seconds=10, max_seconds=120), i).truth["duration"] for i in range(6)]
    assert all(10 <= d <= 120 for d in durations) and max(durations) - min(durations) > 20


def _grid(truth: dict) -> np.ndarray:
    """Sixteenth-note grid over the bars."""
    beat = 60.0 / truth["tempo"]
    return np.arange(len(truth["beats"]) * 4) * beat / 4


def _onsets(audio: np.ndarray) -> np.ndarray:
    y = audio.mean(axis=0)
    return librosa.onset.onset_detect(y=y, sr=SR, units="time", hop_length=256, backtrack=False)


def test_detected_onsets_sit_on_the_stated_beat_grid(tracks):
    for t in tracks:
        onsets = _onsets(t.audio)
        onsets = onsets[onsets < t.truth["beats"][-1] + 60 / t.truth["tempo"]]
        grid = _grid(t.truth)
        step = grid[1]
        dist = np.abs(onsets[:, None] - grid[None]).min(axis=1)
        on_grid = np.mean(dist < 0.035)
        # Control: the same onsets against the grid shifted by half a sixteenth fit far worse.
        shifted = np.abs(onsets[:, None] - (grid + step / 2)[None]).min(axis=1)
        assert on_grid >= 0.85, (t.truth["style"], on_grid)
        assert np.mean(shifted < 0.035) < on_grid - 0.25 or step < 0.09


def test_stated_beats_have_onsets_where_drums_play(tracks):
    for t in tracks:
        onsets = _onsets(t.audio)
        drummed = [s for s in t.truth["sections"] if s["drums"] in ("main", "full")]
        beats = [b for b in t.truth["beats"] if any(s["start"] <= b < s["end"] for s in drummed)]
        hit = np.mean([np.abs(onsets - b).min() < 0.05 for b in beats])
        assert hit >= 0.9, (t.truth["style"], hit)


def test_estimated_tempo_agrees_with_stated_tempo(tracks):
    for t in tracks:
        if not any(s["drums"] in ("main", "full") for s in t.truth["sections"]):
            continue
        bpm = float(np.atleast_1d(librosa.beat.beat_track(y=t.audio.mean(0), sr=SR, units="time")[0])[0])
        stated = t.truth["tempo"]
        ratio = min(abs(bpm / stated - r) for r in (0.5, 2 / 3, 1.0, 1.5, 2.0))
        assert ratio < 0.05, (t.truth["style"], bpm, stated)


def test_stated_chords_dominate_the_chroma_of_their_spans(tracks):
    labels, sets = chord_templates()
    templates = np.zeros((24, 12))
    for i, pcs in enumerate(sets):
        templates[i, list(pcs)] = 1.0
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    hop = 2048
    correct = total = 0
    for t in tracks:
        chroma = librosa.feature.chroma_cqt(y=t.audio.mean(0), sr=SR, hop_length=hop)
        times = librosa.frames_to_time(np.arange(chroma.shape[1]), sr=SR, hop_length=hop)
        for span in t.truth["chords"]:
            mask = (times >= span["start"] + 0.05) & (times < span["end"] - 0.05)
            if mask.sum() < 3:
                continue
            profile = chroma[:, mask].mean(axis=1)
            best = labels[int(np.argmax(templates @ profile))]
            correct += best == span["label"]
            total += 1
    assert total > 30 and correct / total >= 0.85, (correct, total)


def test_melody_notes_are_the_pitches_in_the_melody_stem(tracks):
    agree = total = 0
    for t in tracks:
        y = t.stems["melody"].mean(0)
        chroma = librosa.feature.chroma_stft(y=y, sr=SR, hop_length=512)
        for note in t.truth["melody"]:
            frame = int((note["start"] + 0.6 * (note["end"] - note["start"])) * SR / 512)
            if frame < chroma.shape[1]:
                agree += int(np.argmax(chroma[:, frame])) == note["pitch"] % 12
                total += 1
    assert total > 50 and agree / total >= 0.8, (agree, total)


def test_the_lead_sits_above_its_backing_while_it_plays(tracks):
    """Mixed by loudness, not fixed gains: over the spans where melody notes sound, the lead stem is
    0 to 3 dB above chords + bass (give or take the reverb sends, which differ by part)."""
    for t in tracks:
        playing = np.zeros(t.audio.shape[1], bool)
        for note in t.truth["melody"]:
            playing[int(note["start"] * SR) : int(note["end"] * SR)] = True
        lead = np.sqrt(np.mean(t.stems["melody"][:, playing] ** 2))
        backing = np.sqrt(np.mean((t.stems["chords"] + t.stems["bass"])[:, playing] ** 2))
        assert -1.0 <= 20 * np.log10(lead / backing) <= 4.0, t.truth["instruments"]


def test_lead_gain_leaves_a_track_without_melody_alone():
    from types import SimpleNamespace

    from s2acc.synth.render import lead_gain

    dry = {part: np.ones((2, 100), np.float32) for part in ("melody", "chords", "bass")}
    assert lead_gain(SimpleNamespace(notes=[]), dry, SR, over_db=3.0) == 1.0


def test_sections_tile_the_track_and_sound_different():
    t = generate_track(cfg(styles=["electronic"], min_seconds=60, max_seconds=60), 0, stems=True)
    sections = t.truth["sections"]
    assert sections[0]["start"] == 0 and sections[-1]["end"] == t.truth["duration"]
    assert all(a["end"] == b["start"] for a, b in zip(sections, sections[1:], strict=False))
    labels = [s["label"] for s in sections]
    assert labels[0] == "intro" and labels[-1] == "outro" and "verse" in labels and "chorus" in labels

    def rms(label):
        s = next(s for s in sections if s["label"] == label)
        seg = t.audio[:, int(s["start"] * SR) : int(s["end"] * SR)]
        return float(np.sqrt(np.mean(seg**2)))

    assert rms("chorus") > 1.5 * rms("intro")
    intro = next(s for s in sections if s["label"] == "intro")
    assert "melody" not in intro["parts"] and set(
        next(s for s in sections if s["label"] == "chorus")["parts"]
    ) == {"bass", "chords", "melody", "drums"}


def test_keys_modes_tempi_and_meters_vary_across_tracks():
    truths = [compose(np.random.default_rng([0, i]), 30.0) for i in range(60)]
    assert {s.key.mode for s in truths} == {"major", "minor"}
    assert {s.beats_per_bar for s in truths} == {3, 4}
    tempi = [s.tempo for s in truths]
    assert min(tempi) < 85 and max(tempi) > 150
    assert len({s.style.name for s in truths}) == len(STYLES)
    assert len({(s.voices["chords"].name, s.voices["melody"].name) for s in truths}) > 15


def test_every_tag_is_in_the_mtg_jamendo_vocabulary():
    vocab = vocabulary()
    rng = np.random.default_rng(0)
    for style in STYLES.values():
        assert set(style.genres) <= set(vocab["genre"]), style.name
        assert set(style.moods_major + style.moods_minor) <= set(vocab["mood/theme"]), style.name
    instruments = {draw_voice(name, rng).tag for name in VOICE_PRESETS} | set(DRUM_TAG.values())
    assert instruments <= set(vocab["instrument"]), instruments - set(vocab["instrument"])


def test_caption_is_written_from_the_truth(tracks):
    for t in tracks:
        text, truth = t.truth["caption"], t.truth
        assert truth["key"] in text and f"{truth['tempo']:.0f} BPM" in text
        assert STYLES[truth["style"]].words in text
        assert all(m in text for m in truth["tags"]["mood/theme"])
        assert len(text.split()) < 100  # the ATTM prompts are under 100 words


def test_chord_labels_parse_and_cover_the_track(tracks):
    for t in tracks:
        spans = t.truth["chords"]
        assert spans[0]["start"] == 0 and spans[-1]["end"] == t.truth["duration"]
        assert all(parse_chord(s["label"]) is not None for s in spans)
        assert t.truth["downbeats"] == t.truth["beats"][:: t.truth["beats_per_bar"]]


# --------------------------------------------------------------------------------------- defects


def _copy(kind: str):
    c = cfg(n_tracks=5, min_seconds=12.0, max_seconds=12.0)
    clean = generate_track(c, 0)
    return clean, damaged_copy(c, clean, 999, kind)


def test_clipping_copy_is_clipped():
    clean, bad = _copy("clipping")
    assert np.mean(np.abs(clean.audio) >= 0.999) < 0.001
    assert (
        np.mean(np.abs(bad.audio) >= 0.999) > 0.05 and bad.truth["defect_detail"]["clipped_fraction"] > 0.05
    )


def test_noise_copy_has_the_stated_snr():
    clean, bad = _copy("noise")
    residual = bad.audio - clean.audio * (np.abs(bad.audio).max() / max(np.abs(bad.audio).max(), 1e-9))
    noise_power = np.mean(
        (
            bad.audio
            - clean.audio
            * np.dot(bad.audio.ravel(), clean.audio.ravel())
            / np.dot(clean.audio.ravel(), clean.audio.ravel())
        )
        ** 2
    )
    snr = 10 * np.log10(np.mean(clean.audio.astype(np.float64) ** 2) / noise_power)
    assert residual.shape == clean.audio.shape
    assert abs(snr - bad.truth["defect_detail"]["snr_db"]) < 1.5


def test_lowpass_copy_has_no_energy_above_5khz():
    clean, bad = _copy("lowpass")

    def high_share(x):
        spec = np.abs(np.fft.rfft(x.mean(0))) ** 2
        freqs = np.fft.rfftfreq(x.shape[1], 1 / SR)
        return spec[freqs > 5000].sum() / spec.sum()

    assert high_share(clean.audio) > 1e-3 and high_share(bad.audio) < 1e-5


def test_silence_copy_has_long_silent_spans():
    clean, bad = _copy("silence")
    detail = bad.truth["defect_detail"]
    for a, b in detail["silent_spans"]:
        assert b - a > 1.5 and np.all(bad.audio[:, int(a * SR) + 100 : int(b * SR) - 100] == 0)
    assert 0.3 <= detail["silent_fraction"] <= 0.5


def test_caption_mismatch_keeps_audio_and_describes_other_music():
    clean, bad = _copy("caption_mismatch")
    np.testing.assert_array_equal(bad.audio, clean.audio)
    assert bad.truth["caption"] != clean.truth["caption"]
    assert bad.truth["defect_detail"]["caption_from_style"] != clean.truth["style"]
    assert STYLES[clean.truth["style"]].words not in bad.truth["caption"]


def test_defect_plan_covers_every_kind_and_is_deterministic():
    c = cfg(n_tracks=20, defects=0.5)
    plan = defect_plan(c)
    assert plan == defect_plan(c) and len(plan) == 10
    assert {kind for _, kind in plan.values()} == {
        "clipping",
        "noise",
        "lowpass",
        "silence",
        "caption_mismatch",
    }
    assert all(copy_id >= c.first_id + c.n_tracks for copy_id, _ in plan.values())


# ---------------------------------------------------------------------------------------- corpus


def test_corpus_layout_tables_and_resume(tmp_path):
    c = cfg(n_tracks=3, min_seconds=10.0, max_seconds=10.0, format="mp3", defects=0.34)
    table = generate_corpus(c, tmp_path, progress=False, workers=1)
    assert len(table) == 4 and list(table["defect"]).count("") == 3
    for row in table.itertuples():
        path = tmp_path / row.path
        assert (
            path.name == f"{row.track_id}_instrumental.mp3"
            and path.parent.name == f"{row.track_id % 100:02d}"
        )
        audio, sr = read_audio(path)
        assert sr == SR and audio.shape[0] == 2 and abs(audio.shape[1] / sr - 10.0) < 0.1
    assert pd.read_parquet(tmp_path / "truth.parquet").equals(table)
    captions = json.loads((tmp_path / "captions.json").read_text())
    assert captions[0]["path"] == "00/9000000.mp3" and captions[0]["caption"] == table["caption"][0]
    damaged = table[table["defect"] != ""].iloc[0]
    assert damaged["source_track_id"] in set(table["track_id"])

    # A rerun touches nothing; a lost track is rebuilt identically.
    first = tmp_path / table["path"][0]
    stamp, data = first.stat().st_mtime_ns, first.read_bytes()
    lost = tmp_path / table["path"][1]
    lost_bytes = lost.read_bytes()
    lost.unlink()
    generate_corpus(c, tmp_path, progress=False, workers=1)
    assert first.stat().st_mtime_ns == stamp and first.read_bytes() == data
    assert lost.read_bytes() == lost_bytes

    with pytest.raises(ConfigError, match="another config"):
        generate_corpus(cfg(n_tracks=3, min_seconds=10.0, max_seconds=10.0, seed=1), tmp_path, progress=False)


@pytest.mark.slow
def test_parallel_corpus_equals_serial_corpus(tmp_path):
    c = cfg(n_tracks=4, min_seconds=10.0, max_seconds=10.0, defects=0.5)
    serial = generate_corpus(c, tmp_path / "a", progress=False, workers=1)
    parallel = generate_corpus(c, tmp_path / "b", progress=False, workers=2)
    assert serial.equals(parallel)
    for path in serial["path"]:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(n_tracks=0), "n_tracks"),
        (dict(min_seconds=5.0), "min_seconds"),
        (dict(min_seconds=50.0, max_seconds=20.0), "min_seconds"),
        (dict(defects=1.5), "defects"),
        (dict(styles=["polka"]), "polka"),
    ],
)
def test_bad_config_values_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        cfg(**override)

"""Long recordings in bounded memory: spans read on their own equal the whole decode, the decode check
streams, and the windowed stages give the whole-file results within stated tolerances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from data_pipeline import ingest
from data_pipeline.config import DataConfig
from data_pipeline.pipeline import run_pipeline
from data_pipeline.stages import segment_spans
from data_pipeline.tracks import TrackAudio, load_track
from s2acc.audio import StreamWriter, read_audio, windows, write_audio
from s2acc.config import from_dict
from s2acc.leadsheet import LeadSheet

SR = 44100


@pytest.mark.parametrize(
    ("rate", "suffix", "channels"), [(44100, "flac", 2), (48000, "mp3", 2), (22050, "wav", 1)]
)
def test_a_span_read_alone_equals_the_same_span_of_the_whole_decode(tmp_path, rate, suffix, channels):
    rng = np.random.default_rng(rate)
    x = (0.1 * rng.standard_normal((channels, rate * 6 + 17))).astype(np.float32)
    path = tmp_path / f"t.{suffix}"
    sf.write(path, x.T, rate)
    whole = load_track(path, SR)
    track = TrackAudio(path, SR)
    assert track.n == whole.shape[1]
    for start, stop in [
        (0, 1000),
        (12345, 99999),
        (200001, track.n),
        (0, track.n),
        (track.n - 5, track.n + 50),
    ]:
        span = track.read(start, stop)
        assert span.shape == (2, min(stop, track.n) - start)
        np.testing.assert_allclose(span, whole[:, start:stop], atol=1e-6)


def test_the_decode_check_streams_and_measures_what_a_whole_decode_does(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal((2, SR * 7)) + np.array([[0.05], [-0.1]])).astype(np.float32)
    path = tmp_path / "dc.wav"
    write_audio(path, x, SR, bits="float")
    monkeypatch.setattr(ingest, "BLOCK_SECONDS", 0.5)  # 14 blocks
    stats = ingest.decoded_stats(path, SR)
    offset = x.mean(axis=1, dtype=np.float64)
    assert stats["frames"] == x.shape[1] and stats["channels"] == 2
    assert stats["peak"] == pytest.approx(np.abs(x).max())
    assert stats["dc"] == pytest.approx(np.abs(offset).max(), rel=1e-5)
    assert stats["audible"] == pytest.approx(np.abs(x - offset[:, None]).max(), rel=1e-5)


def test_stream_writer_moves_a_file_into_place_only_when_complete(tmp_path):
    blocks = [np.full((2, 1000), v, np.float32) for v in (0.1, -0.2, 0.3)]
    with StreamWriter(tmp_path / "s.wav", SR, 2, 3000) as out:
        for b in blocks:
            out.write(b)
    np.testing.assert_array_equal(read_audio(tmp_path / "s.wav")[0], np.concatenate(blocks, axis=1))
    with pytest.raises(RuntimeError), StreamWriter(tmp_path / "broken.wav", SR, 2, 3000) as out:
        out.write(blocks[0])
        raise RuntimeError("killed mid-track")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.wav"]


def test_stems_past_the_wav_size_limit_are_written_as_rf64(tmp_path, monkeypatch):
    monkeypatch.setattr(StreamWriter, "WAV_LIMIT", 10_000)  # bytes: stands for 4 GiB (3.4 h of stereo float)
    block = np.random.default_rng(0).uniform(-1, 1, (2, 4000)).astype(np.float32)
    with StreamWriter(tmp_path / "long.wav", SR, 2, 8000) as out:
        out.write(block)
        out.write(-block)
    assert sf.info(str(tmp_path / "long.wav")).format == "RF64"
    audio = TrackAudio(tmp_path / "long.wav", SR).read(3000, 5000)
    np.testing.assert_array_equal(audio, np.concatenate([block, -block], axis=1)[:, 3000:5000])


def test_windows_and_segment_spans_cover_the_track_without_gaps():
    spans = windows(1000, 300, 50)
    assert [(s, e) for _, s, e, _ in spans] == [(0, 300), (300, 600), (600, 900), (900, 1000)]
    assert spans[1] == (250, 300, 600, 650) and spans[-1] == (850, 900, 1000, 1000)
    assert windows(300, 300, 50) == [(0, 0, 300, 300)]
    downbeats = np.arange(0.0, 1000.0, 2.1)
    cuts = segment_spans(1000.0, 300.0, downbeats, downbeats)
    assert cuts[0][0] == 0.0 and cuts[-1][1] == 1000.0
    assert all(a[1] == b[0] for a, b in zip(cuts, cuts[1:], strict=False))
    assert all(0 < e - s <= 300.0 for s, e in cuts)
    assert all(np.min(np.abs(downbeats - s)) < 1e-9 for s, _ in cuts[1:])  # cut on downbeats
    assert segment_spans(250.0, 300.0, downbeats, downbeats) == [(0.0, 250.0)]


def _f_measure(ref: np.ndarray, est: np.ndarray, tolerance: float = 0.07) -> float:
    hits = sum(bool(np.any(np.abs(est - t) <= tolerance)) for t in ref)
    return 2 * hits / max(1, len(ref) + len(est))


def test_windowed_stages_match_the_whole_file_path(tmp_path):
    """A one-minute synthesised track, processed whole and in 20.48 s windows.

    Tolerances: stems equal to 1e-5 (hop-aligned windows with 10.24 s of context); the same key and
    chords on 95% of frames; tempo within 1%; beats within 70 ms at F >= 0.9 and downbeats at F >= 0.8
    (beats are tracked per window); melody pitch class on 90% of frames; segments of the same number
    (within one) covering the same span. One tempo throughout: on a recording whose tempo changes (an
    album), the whole-file librosa tracker holds one tempo and the windows follow each part's own."""
    from s2acc.synth.corpus import SynthConfig, generate_corpus

    corpus = tmp_path / "c"
    generate_corpus(
        SynthConfig(seed=5, n_tracks=1, min_seconds=60, max_seconds=60, format="wav"), corpus, progress=False
    )
    album = read_audio(next(corpus.glob("*/*.wav")))[0]
    root = tmp_path / "in"
    write_audio(root / "album.flac", album, SR)

    def config(out, window: float, segment_window: float = 600.0, stages=("ingest", "separate", "leadsheet")):
        return from_dict(
            DataConfig,
            {
                "out": str(out),
                "stages": [*stages, "segment"],
                "input": {"root": str(root), "window_seconds": window},
                "separate": {"keep_stems": True},
                "leadsheet": {"backend": "librosa"},
                "segment": {"min_seconds": 4.0, "max_seconds": 10.0, "window_seconds": segment_window},
            },
        )

    outs = {}
    for name, window in (("whole", 600.0), ("windowed", 20.48)):
        outs[name] = tmp_path / name
        run_pipeline(config(outs[name], window), progress=False)
        assert not len(pd.read_parquet(outs[name] / "failures.parquet"))
    for stem in ("harmonic", "percussive"):
        a, b = (read_audio(next((outs[n] / "work" / "stems").iterdir()) / f"{stem}.wav")[0] for n in outs)
        assert a.shape == b.shape == album.shape
        np.testing.assert_allclose(b, a, atol=1e-5)
    a, b = (LeadSheet.load(next((outs[n] / "leadsheets").glob("*.npz"))) for n in outs)
    assert a.n_frames == b.n_frames and a.key == b.key
    assert b.tempo == pytest.approx(a.tempo, rel=0.01)
    assert _f_measure(a.beats, b.beats) >= 0.9
    assert _f_measure(a.downbeats, b.downbeats) >= 0.8
    assert np.mean(a.chord == b.chord) >= 0.95
    assert np.mean(a.pitch_class == b.pitch_class) >= 0.9
    np.testing.assert_allclose(b.chroma, a.chroma, atol=1e-3)
    seg_a, seg_b = (pd.read_parquet(outs[n] / "segment.parquet") for n in outs)
    assert abs(len(seg_a) - len(seg_b)) <= 1
    assert seg_b["start"].min() == seg_a["start"].min() and seg_b["end"].max() == seg_a["end"].max()

    # segmentation in 25 s windows (three of them): every segment fits, in order, without overlaps
    run_pipeline(config(outs["windowed"], 20.48, segment_window=25.0, stages=()), progress=False)
    seg = pd.read_parquet(outs["windowed"] / "segment.parquet").sort_values("start")
    assert len(segment_spans(album.shape[1] / SR, 25.0, b.downbeats, b.beats)) == 3
    assert (seg["duration"] <= 10.0 + 1e-6).all() and (seg["duration"] >= 4.0 - 1e-6).all()
    assert (seg["start"].to_numpy()[1:] >= seg["end"].to_numpy()[:-1] - 1e-6).all()
    assert seg["end"].max() > album.shape[1] / SR - 10.0

"""benchmarks/chain.py's measures on a small synthetic corpus: the reference judged against itself sits
on the real-vs-real floor (FAD ratio 1), noise far above it; an ablation's difference is zero between
identical arms and its interval excludes zero between the reference and noise."""

import sys
from pathlib import Path

import numpy as np
import pytest

from s2acc.audio import write_audio
from s2acc.rates import SAMPLE_RATE
from s2acc.synth.corpus import SynthConfig, generate_corpus

ROOT = Path(__file__).resolve().parents[1]


def _chain():
    sys.path.insert(0, str(ROOT))
    import benchmarks.chain as chain

    return chain


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """A judge over eight held-out-style tracks, and the records of two runs: the reference excerpts
    themselves written as clips, and white noise at their loudness."""
    chain = _chain()
    root = tmp_path_factory.mktemp("chain")
    config = SynthConfig(seed=12, n_tracks=8, min_seconds=11, max_seconds=12, format="wav", defects=0.0)
    generate_corpus(config, root / "corpus", progress=False, workers=1)
    judge = chain.Judge(root / "corpus", None, root / "work", clips_per_prompt=1)
    copies = root / "copies"
    copies.mkdir()
    for row in judge.clip_table().itertuples():
        write_audio(copies / f"{row.id}.wav", judge.reference[row.track][0], SAMPLE_RATE)
    chain.noise_clips(judge, root / "noise")
    return chain, judge, judge.run_record(copies), judge.run_record(root / "noise")


def test_the_reference_sits_on_the_floor_and_noise_far_above_it(judged, monkeypatch):
    chain, judge, copies, noise = judged
    assert len(judge.tracks) == 8 and [len(h) for h in judge.halves] == [4, 4]
    ratio, value, floor = judge.fad_ratio(judge.reference_embedded, *judge.halves)
    assert floor > 0 and ratio == pytest.approx(1.0, rel=1e-6) and value == pytest.approx(floor, rel=1e-6)
    as_written = chain.run_metrics(judge, copies, judge.halves, {})
    assert as_written["fad_ratio"] == pytest.approx(1.0, abs=0.02)  # through a WAV file and back
    assert chain.run_metrics(judge, noise, judge.halves, {})["fad_ratio"] > chain.TARGETS["fad_ratio"]
    monkeypatch.setattr(chain, "BOOTSTRAP", 100)
    figures = judge.fad_figures(judge.reference_embedded)
    assert figures["value"] == pytest.approx(1.0, abs=1e-3)
    low, high = figures["interval_95"]
    assert low <= 1.0 + 1e-3 and high >= 1.0 - 1e-3  # resampling tracks moves both sides alike


def test_an_ablation_tells_identical_arms_apart_from_different_ones(judged, monkeypatch):
    chain, judge, copies, noise = judged
    monkeypatch.setattr(chain, "BOOTSTRAP", 100)
    same = chain.compare(judge, {"a": [copies, copies], "b": [copies, copies]})
    for metric in ("fad_ratio", "tempo_accuracy", "mode_accuracy"):
        assert same["difference"][metric]["mean"] == 0.0
        assert same["difference"][metric]["interval_95"] == [0.0, 0.0]
        assert not same["difference"][metric]["excludes_zero"]
        assert same["arms"]["a"][metric]["per_seed"] == same["arms"]["b"][metric]["per_seed"]
    apart = chain.compare(judge, {"reference": [copies, copies], "noise": [noise, noise]})
    fad = apart["difference"]["fad_ratio"]
    assert apart["difference"]["of"] == "reference - noise"
    assert fad["mean"] < 0 and fad["excludes_zero"] and fad["interval_95"][1] < 0
    arms = apart["arms"]
    assert np.isclose(
        fad["mean"], arms["reference"]["fad_ratio"]["mean"] - arms["noise"]["fad_ratio"]["mean"]
    )
    assert apart["arms"]["noise"]["fad_ratio"]["std"] == 0.0  # two seeds of the same clips

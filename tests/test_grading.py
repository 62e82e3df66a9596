"""The offline aesthetics grader ranks damaged audio below clean audio; the combined rank."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_pipeline.grading import combine, dsp_measures, make_aesthetics, make_alignment
from s2acc.config import ConfigError
from s2acc.synth.corpus import SynthConfig, generate_track
from s2acc.synth.defects import DEFECTS, damage

SR = 44100


@pytest.fixture(scope="module")
def clean():
    cfg = SynthConfig(seed=4, n_tracks=1, min_seconds=12, max_seconds=12, format="wav")
    return generate_track(cfg, 0).audio[:, 2 * SR : 12 * SR]


@pytest.mark.parametrize("kind", [d for d in DEFECTS if d != "caption_mismatch"])
def test_every_audible_defect_lowers_dsp_quality(clean, kind):
    damaged, _ = damage(kind, clean, SR, np.random.default_rng(0))
    grader = make_aesthetics("dsp-quality")
    good, bad = grader.score([clean, damaged], SR)
    assert good["quality"] >= 8.0
    assert bad["quality"] <= good["quality"] - 1.0, (kind, good, bad)


def test_measurements_are_finite_and_describe_the_fault(clean):
    m = dsp_measures(clean, SR)
    assert all(np.isfinite(v) for v in m.values())
    silent = dsp_measures(np.zeros_like(clean), SR)
    assert silent["silent_fraction"] == 1.0 and silent["loudness_lufs"] == -70.0
    clipped = dsp_measures(np.clip(clean * 8, -1, 1), SR)
    assert clipped["clipped_fraction"] > 0.01 > m["clipped_fraction"]
    # 22.05 kHz input is measured on the same scale.
    half = dsp_measures(clean[:, ::2], SR // 2)
    assert half["bandwidth_hz"] <= 11025


def test_combine_standardises_weights_and_ranks():
    table = pd.DataFrame(
        {
            "segment_id": list("abcde"),
            "aesthetics": [1.0, 2.0, 3.0, 3.0, np.nan],
            "alignment": [0.5, 0.5, 0.5, 0.5, np.nan],
        }
    )
    out = combine(table, {"aesthetics": 1.0, "alignment": 1.0})
    assert out["z_aesthetics"].iloc[:4].mean() == pytest.approx(0.0)
    assert (out["z_alignment"].iloc[:4] == 0).all()  # a constant metric carries no information
    assert out["rank"].tolist() == [4, 3, 1, 1, 5]  # ties share the best rank, missing ranks last
    assert np.isnan(out["score"].iloc[4])
    # A segment missing one metric is scored on the other.
    table.loc[4, "aesthetics"] = 10.0
    assert combine(table, {"aesthetics": 1.0, "alignment": 1.0})["rank"].iloc[4] == 1
    with pytest.raises(ConfigError, match="loudness"):
        combine(table, {"loudness": 1.0})


def test_unknown_backends_are_config_errors():
    with pytest.raises(ConfigError, match="dsp-quality"):
        make_aesthetics("nope")
    with pytest.raises(ConfigError, match="laion-clap"):
        make_alignment("nope")
    with pytest.raises(ConfigError, match="params"):
        make_aesthetics("dsp-quality", window=3)

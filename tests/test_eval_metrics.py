"""FAD statistics and distance, fadtk-compatible CLAP preprocessing, the CLAP score path, Borda ranking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import yaml

from eval.embedders import (
    ClapEmbedder,
    EmbeddingCache,
    MelStatsEmbedder,
    fadtk_clap_audio,
    laion_quantize,
    make_embedder,
    pcm16_round_trip,
    windows,
)
from eval.fad import EmbeddingStats, fad, frechet_distance, stats_from_embeddings
from eval.rank import PUBLISHED, borda, place_among_published

ROOT = Path(__file__).resolve().parents[1]


def random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# ------------------------------------------------------------------------------------- distance


def test_frechet_distance_matches_the_closed_form_for_commuting_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(16), rng.standard_normal(16)
    var1, var2 = rng.uniform(0.1, 3, 16), rng.uniform(0.1, 3, 16)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    got = frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert got == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_matches_scipy_sqrtm_on_general_covariances():
    rng = np.random.default_rng(1)
    c1, c2 = random_spd(rng, 24), random_spd(rng, 24)
    mu1, mu2 = rng.standard_normal(24), rng.standard_normal(24)
    covmean = scipy.linalg.sqrtm(c1 @ c2).real  # the textbook computation, independent of ours
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean)
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-8)


def test_distance_is_zero_to_itself_symmetric_and_real_when_singular():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((10, 32))  # fewer samples than dimensions: singular covariance
    y = rng.standard_normal((12, 32)) + 0.3
    a = stats_from_embeddings([x], "test")
    b = stats_from_embeddings([y], "test")
    assert fad(a, a) == pytest.approx(0.0, abs=1e-9)
    # sqrtm of a rank-deficient product is exact only to rounding, which varies with the BLAS threads
    assert fad(a, b) == pytest.approx(fad(b, a), rel=1e-7)
    assert np.isfinite(fad(a, b)) and fad(a, b) > 0
    with pytest.raises(ValueError, match="different embedders"):
        fad(a, stats_from_embeddings([y], "other"))


def test_stats_pool_every_window_after_float16_rounding(tmp_path):
    rng = np.random.default_rng(3)
    files = [rng.standard_normal((n, 8)) for n in (3, 5, 1)]
    stats = stats_from_embeddings(files, "clap-laion-music", "abc")
    pooled = np.concatenate(files).astype(np.float16).astype(np.float64)
    np.testing.assert_allclose(stats.mu, pooled.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(stats.cov, np.cov(pooled, rowvar=False, ddof=1), rtol=1e-12)
    assert stats.count == 9
    back = EmbeddingStats.load(stats.save(tmp_path / "ref.npz"))
    np.testing.assert_array_equal(back.cov, stats.cov)
    assert (back.embedder, back.checkpoint_sha256, back.count) == ("clap-laion-music", "abc", 9)
    (tmp_path / "bad.npz").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="bad.npz"):
        EmbeddingStats.load(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="at least 2"):
        stats_from_embeddings([files[2]], "x")


# ------------------------------------------------------------------------------ preprocessing


def test_windows_start_every_second_and_zero_pad_the_tail():
    sr, window = 100, 1000  # 10 s windows at a toy rate
    x = np.arange(1, 251, dtype=np.float32)  # 2.5 s
    w = windows(x, sr, window)
    assert w.shape == (3, 1000)  # ceil(2.5 s / 1 s)
    np.testing.assert_array_equal(w[1, :150], x[100:])
    assert np.all(w[1, 150:] == 0) and np.all(w[2, 50:] == 0)
    assert windows(np.ones(1000, np.float32), sr, window).shape == (10, 1000)  # a 10 s clip: 10 windows


def test_quantisation_steps_match_int16_conventions():
    x = np.array(
        [0.0, 0.5, -0.5, 1.5, -1.5, 1 / 32767, -0.9999, -1e-9, 0.7 / 32768, -0.7 / 32768], np.float32
    )
    stored = pcm16_round_trip(x)
    # libsndfile: 32-bit rounding, then the top 16 bits (a floor), so tiny negatives land on -1
    np.testing.assert_array_equal(
        stored * 32768,
        np.clip(np.floor(np.rint(x.astype(np.float64) * 2.0**31) / 65536), -32768, 32767),
    )
    assert stored[7] * 32768 == -1 and stored[8] * 32768 == 0 and stored[9] * 32768 == -1
    q = laion_quantize(stored)
    np.testing.assert_array_equal(q * 32767, np.trunc(np.clip(stored, -1, 1) * 32767).astype(np.float32))
    assert np.abs(q).max() <= 1.0


def test_kaiser_sinc_resampling_equals_the_interpolation_sum():
    """Each output sample is the Kaiser-windowed sinc interpolation of the input at its time, evaluated
    here directly in float64, sample by sample, as an independent check of the polyphase form."""
    from eval.embedders import RESAMPLE_BETA, RESAMPLE_ROLLOFF, RESAMPLE_WIDTH, kaiser_sinc_resample

    x = np.random.default_rng(3).standard_normal(2000).astype(np.float32) * 0.3
    out = kaiser_sinc_resample(x, 44100, 48000)
    assert out.dtype == np.float32 and len(out) == int(np.ceil(2000 * 160 / 147))
    orig, new = 147, 160  # 44100 and 48000 over their gcd, 300
    cutoff = min(orig, new) * RESAMPLE_ROLLOFF
    k = np.arange(len(x))
    for m in (0, 1, 7, 159, 160, 1000, 2176):
        t = np.clip((k / orig - m / new) * cutoff, -RESAMPLE_WIDTH, RESAMPLE_WIDTH)
        window = np.i0(RESAMPLE_BETA * np.sqrt(1 - (t / RESAMPLE_WIDTH) ** 2)) / np.i0(RESAMPLE_BETA)
        support = np.abs(k / orig - m / new) * cutoff < RESAMPLE_WIDTH + 1  # the bank's span
        direct = np.sum((x * np.sinc(t) * window * cutoff / orig)[support])
        assert out[m] == pytest.approx(direct, abs=2e-6)
    # A tone keeps its frequency and level through the filter (cut-off at 0.95 of 22.05 kHz).
    t = np.arange(44100) / 44100
    tone = kaiser_sinc_resample((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), 44100, 48000)
    expected = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(len(tone)) / 48000)
    np.testing.assert_allclose(tone[2000:-2000], expected[2000:-2000], atol=1e-4)
    np.testing.assert_array_equal(kaiser_sinc_resample(x, 48000, 48000), x)  # equal rates: unchanged


def test_fadtk_audio_is_mono_48k():
    sr = 44100
    t = np.arange(sr * 2) / sr
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)]).astype(np.float32) * 0.5
    out = fadtk_clap_audio(stereo, sr)
    assert out.dtype == np.float32 and abs(len(out) - 96000) <= 1
    spectrum = np.abs(np.fft.rfft(out))
    assert np.argmax(spectrum) * 48000 / len(out) == pytest.approx(440, abs=1)


# ------------------------------------------------------------------------------------- embedders


def test_clap_embedder_and_clap_score_equal_a_direct_cosine(clap_model):
    embedder = ClapEmbedder(model_obj=clap_model)
    rng = np.random.default_rng(4)
    clip = (0.1 * rng.standard_normal((2, 48000 * 3))).astype(np.float32)
    emb = embedder.embed(clip, 48000)
    assert emb.shape == (3, 512)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    direct = clap_model.get_audio_embedding_from_data(windows(fadtk_clap_audio(clip, 48000), 48000, 480000))
    np.testing.assert_allclose(emb, direct, atol=1e-5)
    text = embedder.embed_text(["a calm piano piece"])
    assert text.shape == (1, 512)
    cosine = float(emb[0] @ text[0] / (np.linalg.norm(emb[0]) * np.linalg.norm(text[0])))
    assert -1 <= cosine <= 1


def test_mel_stats_embedder_tells_timbres_apart(tmp_path):
    sr = 16000
    t = np.arange(sr * 4) / sr
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    noise = (0.1 * np.random.default_rng(5).standard_normal(len(t))).astype(np.float32)
    embedder = make_embedder("mel-stats")
    assert isinstance(embedder, MelStatsEmbedder)
    tones = [embedder.embed(tone * g, sr) for g in (0.8, 1.0, 1.2)]
    noises = [embedder.embed(noise * g, sr) for g in (0.8, 1.0, 1.2)]
    assert tones[0].shape == (4, 128)
    same = fad(stats_from_embeddings(tones[:2], "mel-stats"), stats_from_embeddings(tones[1:], "mel-stats"))
    apart = fad(stats_from_embeddings(tones, "mel-stats"), stats_from_embeddings(noises, "mel-stats"))
    assert apart > 10 * same
    cache = EmbeddingCache(tmp_path, embedder)
    first = cache.embed(tone, sr)
    assert len(list(cache.folder.glob("*.npy"))) == 1
    np.testing.assert_array_equal(cache.embed(tone, sr), first)
    with pytest.raises(ValueError, match="mel-stats"):
        make_embedder("vggish")


# --------------------------------------------------------------------------------------- ranking


def test_borda_ranks_each_metric_with_shared_ties():
    table = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "fad": [0.40, 0.50, 0.50, 0.60],  # lower is better
            "clap": [0.20, 0.30, 0.25, 0.30],
            "ccs": [0.70, 0.80, 0.90, 0.60],
        }
    )
    out = borda(table).set_index("id")
    assert out["fad_rank"].to_dict() == {"a": 1, "b": 2, "c": 2, "d": 4}
    assert out["clap_rank"].to_dict() == {"a": 4, "b": 1, "c": 3, "d": 1}
    assert out["borda"].to_dict() == {"a": 8, "b": 5, "c": 6, "d": 9}
    assert out["place"].to_dict() == {"b": 1, "c": 2, "a": 3, "d": 4}


def test_published_s2accompanist_entry_places_among_the_efficiency_track():
    table = place_among_published({"id": "ours", "fad": 0.417, "clap": 0.261, "ccs": 0.867})
    assert len(table) == len(PUBLISHED[PUBLISHED["id"].str.startswith("e")]) + 1
    ours, e07 = (table[table["id"] == i].iloc[0] for i in ("ours", "e07"))
    assert ours["place"] == e07["place"]  # identical scores share a place
    with pytest.raises(ValueError, match="missing"):
        borda(pd.DataFrame({"id": ["x"], "fad": [0.1]}))


def test_clap_score_is_the_mean_cosine_of_first_windows(clap_model):
    from eval.clap_score import clap_score, first_window

    embedder = ClapEmbedder(model_obj=clap_model)
    rng = np.random.default_rng(6)
    clips = [(0.1 * rng.standard_normal((2, 44100 * s))).astype(np.float32) for s in (12, 4)]
    prompts = ["a calm piano piece", "an energetic rock track"]
    score = clap_score(embedder, clips, 44100, prompts)
    audio = np.stack(
        [clap_model.get_audio_embedding_from_data(first_window(c, 44100)[None])[0] for c in clips]
    )
    text = embedder.embed_text(prompts)
    direct = [
        float(a @ t / (np.linalg.norm(a) * np.linalg.norm(t))) for a, t in zip(audio, text, strict=True)
    ]
    np.testing.assert_allclose(score.per_prompt, direct, atol=1e-5)
    assert score.mean == pytest.approx(np.mean(direct), abs=1e-5)
    assert len(first_window(clips[1], 44100)) == 480000
    with pytest.raises(ValueError, match="2 clips but 1 prompts"):
        clap_score(embedder, clips, 44100, prompts[:1])


def test_the_eval_config_restates_the_contract_and_refuses_edits_to_it():
    from eval.config import EvalConfig, scorer_contract
    from s2acc.config import ConfigError, load_config, to_dict

    cfg = load_config(EvalConfig, ROOT / "configs/eval/attm.yaml")
    written = yaml.safe_load((ROOT / "configs/eval/attm.yaml").read_text())["contract"]
    assert written == to_dict(cfg.contract) == scorer_contract()  # every value spelled out, and the scorer's
    assert scorer_contract()["window_seconds"] == 10.0 and scorer_contract()["hop_seconds"] == 1.0
    with pytest.raises(ConfigError, match=r"hop_seconds: 0\.5 \(the scorer computes 1\.0\)"):
        load_config(EvalConfig, ROOT / "configs/eval/attm.yaml", ["contract.hop_seconds=0.5"])
    with pytest.raises(ConfigError, match="clap_sha256"):
        load_config(EvalConfig, ROOT / "configs/eval/demo.yaml", ["contract.clap_sha256=" + "0" * 64])

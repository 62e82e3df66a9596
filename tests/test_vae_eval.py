"""`s2acc vae eval`: linear probes and reconstruction metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from s2acc.cli import main
from s2acc.vae.data import CropDataset, clips_from_dataset
from s2acc.vae.evaluate import (
    evaluate_vae,
    fit_linear_probe,
    frame_harmonic_share,
    latent_frames,
    probe_scores,
)
from s2acc.vae.oobleck import build_vae


def test_a_linear_probe_recovers_linearly_coded_classes_and_not_noise():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 5, (600,), generator=g)
    codes = torch.randn(5, 8, generator=g) * 3
    x = codes[y] + torch.randn(600, 8, generator=g)
    weight, bias, mean, std = fit_linear_probe(x[:400], y[:400], 5)
    pred = (((x[400:] - mean) / std) @ weight + bias).argmax(1)
    scores = probe_scores(pred, y[400:], y[:400])
    assert scores["accuracy"] > 0.95 and scores["balanced_accuracy"] > 0.95
    noise = torch.randn(600, 8, generator=g)
    weight, bias, mean, std = fit_linear_probe(noise[:400], y[:400], 5)
    pred = (((noise[400:] - mean) / std) @ weight + bias).argmax(1)
    assert probe_scores(pred, y[400:], y[:400])["balanced_accuracy"] < 0.4


def test_scores_say_what_a_majority_guess_would_get():
    y = torch.tensor([0] * 9 + [1])
    scores = probe_scores(torch.zeros(10, dtype=torch.long), y, y)
    assert scores == {"accuracy": 0.9, "balanced_accuracy": 0.5, "majority_accuracy": 0.9}


def test_evaluation_reports_reconstruction_and_probes(graded_dataset):
    vae = build_vae("tiny")
    train = CropDataset(clips_from_dataset(graded_dataset, "train"), 4.0, random=False)
    test = CropDataset(clips_from_dataset(graded_dataset, "val"), 4.0, random=False)
    x, targets = latent_frames(vae, test)
    assert x.shape == (int(sum(test[i]["mask"].sum() for i in range(len(test)))), 16)
    assert set(targets) == {"chord", "pitch_class", "beat"}
    report = evaluate_vae(vae, train, test)
    rec = report["reconstruction"]
    assert rec["mrstft"] > 0 and rec["mel_l1"] > 0 and rec["si_sdr"] < 10  # a random VAE reconstructs badly
    for name in ("chord", "pitch_class", "beat"):
        assert 0.0 <= report["probes"][name]["accuracy"] <= 1.0
    assert report["probes"]["frames"]["test"] == len(x)


@pytest.mark.slow
def test_the_vae_eval_command_writes_its_report(graded_dataset, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert (
        main(["vae", "eval", "tiny", "--dataset", str(graded_dataset), "--seconds", "3", "--out", str(out)])
        == 0
    )
    report = json.loads(out.read_text())
    assert report["clip_seconds"] == 3 and "chord" in report["probes"]
    assert json.loads(capsys.readouterr().out) == report
    assert main(["vae", "eval", "tiny", "--dataset", str(tmp_path / "none")]) == 2


def test_frame_harmonic_share_separates_a_frame_rate_buzz_from_music():
    sr, hop = 44100, 2048
    n = 10 * sr
    buzz = np.zeros((2, n))
    buzz[:, ::hop] = 1.0  # the same waveform every latent frame
    t = np.arange(n) / sr
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63))[None]  # A major, off the comb
    noise = np.random.default_rng(0).standard_normal((1, n))
    assert frame_harmonic_share(buzz, sr, hop) > 0.99
    assert frame_harmonic_share(chord, sr, hop) < 0.01
    assert frame_harmonic_share(noise, sr, hop) < 0.05
    assert frame_harmonic_share(np.zeros((1, n)), sr, hop) == 0.0
    with pytest.raises(ValueError, match="at least"):
        frame_harmonic_share(chord[:, : 2 * hop], sr, hop)

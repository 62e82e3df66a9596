"""`s2acc eval run`: generation, FAD with its interval, unavailable metrics, reports, caching."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2acc.audio import write_audio
from s2acc.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dit_export(encoded_dataset, tmp_path_factory) -> Path:
    from s2acc.config import load_config
    from s2acc.dit.train import DiTTrainConfig, train_dit

    out = tmp_path_factory.mktemp("dit_eval")
    cfg = load_config(
        DiTTrainConfig,
        ROOT / "configs/dit/tiny.yaml",
        [f"out={out}", f"data.dataset={encoded_dataset}", "vae=tiny", "train.max_steps=2",
         "train.batch_size=2", "train.tracker=none"],
    )  # fmt: skip
    return train_dit(cfg, progress_bar=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reference")
    rng = np.random.default_rng(0)
    t = np.arange(44100 * 12) / 44100
    for k in range(3):
        tone = 0.2 * np.sin(2 * np.pi * (220 * (k + 1)) * t) + 0.01 * rng.standard_normal(len(t))
        write_audio(folder / "sub" / f"{k}.wav", np.stack([tone, tone]).astype(np.float32), 44100)
    return folder


@pytest.mark.slow
def test_eval_run_scores_reports_and_reuses_its_work(dit_export, reference, tmp_path, capsys):
    out = tmp_path / "eval"
    args = ["eval", "run", "--config", str(ROOT / "configs/eval/demo.yaml"), "--quiet", f"out={out}",
            f"checkpoint={dit_export}", f"reference={reference}", "prompts=", "n_prompts=3",
            "generation.steps=2", "generation.seconds=10", "metrics.bootstrap=50", "vae=tiny"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "FAD[mel-stats]" in printed and "clap_score = unavailable" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    low, high = metrics["fad"]["interval_95"]
    assert metrics["fad"]["value"] > 0 and low <= high
    assert metrics["clap_score"]["value"] is None and metrics["ccs"]["value"] is None
    assert metrics["provenance"]["checkpoint_sha256"] and metrics["provenance"]["config_hash"]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "unavailable" in html and "mel-stats" in html
    assert "![Spectrograms" in (out / "report.md").read_text()
    # every clip can be heard and seen beside its prompt, inside the one file
    assert html.count("<audio controls") == 3 and html.count("data:audio/ogg;base64,") == 3
    written = sorted(p.name for p in (out / "clips").iterdir())
    assert written == [f"p00{i}.{x}" for i in range(3) for x in ("ogg", "png")]
    clips = list(out.glob("clips-*/*.wav"))
    assert len(clips) == 3
    stamps = {p: p.stat().st_mtime_ns for p in clips}
    assert main(args) == 0  # a rerun regenerates nothing
    assert {p: p.stat().st_mtime_ns for p in clips} == stamps
    assert json.loads((out / "metrics.json").read_text())["fad"]["value"] == pytest.approx(
        metrics["fad"]["value"]
    )


@pytest.mark.slow
def test_eval_run_measures_adherence_to_corpus_prompts(dit_export, synth_corpus, tmp_path, capsys):
    prompts = tmp_path / "prompts.csv"
    assert main(["eval", "prompts", "--corpus", str(synth_corpus), "--n", "2", "--out", str(prompts)]) == 0
    out = tmp_path / "eval"
    args = ["eval", "run", "--config", str(ROOT / "configs/eval/demo.yaml"), "--quiet", f"out={out}",
            f"checkpoint={dit_export}", f"reference={synth_corpus}", f"prompts={prompts}",
            "generation.steps=2", "metrics.bootstrap=20", "vae=tiny",
            "metrics.reference_seconds=10"]  # fmt: skip
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    tracks = len(list(synth_corpus.glob("*/*.wav")))
    assert metrics["fad"]["reference_windows"] == 10 * tracks  # 10 s of each, a window a second
    for name in ("tempo_accuracy", "mode_accuracy"):
        a = metrics["adherence"][name]
        assert a["clips"] == 2 and 0 <= a["interval_95"][0] <= a["value"] <= a["interval_95"][1] <= 1
    table = pd.read_csv(out / "per_prompt.csv")
    assert {"tempo", "key", "heard_tempo", "heard_key", "tempo_agrees", "mode_agrees"} <= set(table.columns)
    assert (table["heard_tempo"] > 0).all()
    html = (out / "report.html").read_text()
    assert html.count("heard ") == 2 and "tempo within 8%" in html


def test_eval_run_refuses_a_missing_checkpoint_prompts_or_reference(tmp_path, reference, capsys):
    config = str(ROOT / "configs/eval/demo.yaml")
    base = ["eval", "run", "--config", config, f"out={tmp_path / 'e'}", "prompts="]
    assert main([*base, f"checkpoint={tmp_path}", f"reference={reference}"]) == 2
    missing = tmp_path / "missing.csv"
    assert main([*base, f"prompts={missing}", f"checkpoint={tmp_path}", f"reference={reference}"]) == 2
    assert "missing.csv" in capsys.readouterr().err


@pytest.mark.slow
def test_submit_build_writes_a_valid_zip_with_its_manifest(dit_export, tmp_path, capsys):
    import zipfile

    from submissions.validate import validate

    prompts = tmp_path / "prompts.csv"
    prompts.write_text("id,prompt,genre\np1,calm piano,classical\np2,loud rock,rock\n")
    entry = str(ROOT / "submissions/efficiency_track.yaml")
    args = [
        "submit",
        "build",
        "--entry",
        entry,
        "--prompts",
        str(prompts),
        "--quiet",
        f"checkpoint={dit_export}",
        "vae=tiny",
        "dit_config=",
        "sampler.steps=2",
        f"out={tmp_path / 'sub'}",
    ]
    assert main(args) == 0
    zip_path = tmp_path / "sub" / "s2acc-efficiency.zip"
    assert f"valid submission: {zip_path}" in capsys.readouterr().out
    assert validate(zip_path, prompts).ok
    with zipfile.ZipFile(zip_path) as z:
        assert sorted(z.namelist()) == ["manifest.json", "p1.wav", "p2.wav"]
        manifest = json.loads(z.read("manifest.json"))
    assert set(manifest["seeds"]) == {"p1", "p2"} and manifest["sampler"]["steps"] == 2
    assert len(manifest["prompts_sha256"]) == len(manifest["checkpoint_sha256"]) == 64
    assert manifest["parameters"]["core_within_limit"] and manifest["parameters"]["core"]["dit"] > 0
    assert main([*args[:-1], f"checkpoint={tmp_path}", f"out={tmp_path / 'bad'}"]) == 2

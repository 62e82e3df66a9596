"""The eval commands end to end: prompts, FAD with the offline embedder, ranking."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import soundfile as sf

from eval.fad import EmbeddingStats


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "s2acc", "eval", *args], capture_output=True, text=True)


def write_tones(folder, freqs, seconds=11.0, sr=44100, noise=0.0):
    folder.mkdir()
    rng = np.random.default_rng(len(freqs))
    t = np.arange(int(seconds * sr)) / sr
    for i, f in enumerate(freqs):
        x = 0.3 * np.sin(2 * np.pi * f * t) + noise * rng.standard_normal(len(t))
        sf.write(folder / f"c{i}.wav", x.astype(np.float32), sr)


def test_prompts_fad_and_rank_commands(tmp_path):
    out = run("prompts", "--n", "5", "--out", str(tmp_path / "p.csv"))
    assert out.returncode == 0, out.stderr
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 6

    write_tones(tmp_path / "gen", [220, 330, 440])
    write_tones(tmp_path / "ref", [247, 349, 466, 523])
    write_tones(tmp_path / "noisy", [220, 330, 440], noise=0.3)
    stats = tmp_path / "ref.npz"
    close = run(
        "fad",
        str(tmp_path / "gen"),
        str(tmp_path / "ref"),
        "--embedder",
        "mel-stats",
        "--save-reference",
        str(stats),
    )
    assert close.returncode == 0, close.stderr
    assert "FAD[mel-stats]" in close.stdout and EmbeddingStats.load(stats).count == 4 * 11
    far = run("fad", str(tmp_path / "noisy"), str(stats), "--embedder", "mel-stats")
    value = lambda r: float(r.stdout.split("=")[1].split()[0])  # noqa: E731
    assert value(far) > value(close) > 0
    # Generated clips are scored on their first 10 s: 10 windows each.
    assert "(30 vs 44 windows)" in close.stdout

    entries = tmp_path / "entries.csv"
    entries.write_text("id,fad,clap,ccs\nours,0.45,0.30,0.85\n")
    ranked = run("rank", str(entries), "--published")
    assert ranked.returncode == 0 and "ours" in ranked.stdout and "e07" in ranked.stdout


def test_fad_command_errors_name_the_problem(tmp_path):
    missing = run("fad", str(tmp_path / "nope"), str(tmp_path / "nope2"), "--embedder", "mel-stats")
    assert missing.returncode != 0 and "is not a folder" in missing.stderr
    write_tones(tmp_path / "gen", [220, 330])
    stats = tmp_path / "ref.npz"
    EmbeddingStats(np.zeros(128), np.eye(128), 10, "mel-stats").save(stats)
    wrong = run("fad", str(tmp_path / "gen"), str(stats), "--embedder", "clap-laion-music")
    assert wrong.returncode != 0 and "--embedder mel-stats" in wrong.stderr

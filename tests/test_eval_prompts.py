"""Benchmark prompts from MTG-Jamendo concept triplets."""

from __future__ import annotations

import csv

import pytest

from eval.ccs import Concept, concepts_for, extract_concepts
from eval.prompts import benchmark_prompts, corpus_prompts, write_prompts_csv
from s2acc.tags import vocabulary


def test_prompts_are_deterministic_short_and_keep_their_triplet(tmp_path):
    rows = benchmark_prompts(100, seed=0)
    assert rows == benchmark_prompts(100, seed=0) and rows != benchmark_prompts(100, seed=1)
    assert [r["id"] for r in rows] == [f"p{i:03d}" for i in range(100)]
    vocab = vocabulary()
    for r in rows:
        assert r["genre"] in vocab["genre"] and r["instrument"] in vocab["instrument"]
        assert r["mood"] in vocab["mood/theme"]
        assert len(r["prompt"].split()) < 100 and r["prompt"][0].isupper() and r["prompt"].endswith(".")
        # The prompt names each of its concepts, so a text-only reader finds them too.
        found = extract_concepts(r["prompt"])
        assert Concept("genre", r["genre"]) in found and Concept("instrument", r["instrument"]) in found
    assert len({r["genre"] for r in rows}) > 10  # drawn across the vocabulary, not one template
    path = write_prompts_csv(rows, tmp_path / "prompts.csv")
    with open(path, newline="") as f:
        back = list(csv.DictReader(f))
    assert back == rows
    assert concepts_for(back[0])[0] == Concept("genre", rows[0]["genre"])
    with pytest.raises(ValueError):
        benchmark_prompts(0)


def test_corpus_prompts_carry_each_original_tracks_caption_tempo_and_key(synth_corpus, tmp_path):
    import pandas as pd

    truth = pd.read_parquet(synth_corpus / "truth.parquet")
    rows = corpus_prompts(synth_corpus)
    assert [r["id"] for r in rows] == [str(t) for t in sorted(truth["track_id"])]
    first = truth.sort_values("track_id").iloc[0]
    assert rows[0]["prompt"] == first["caption"] and float(rows[0]["tempo"]) == pytest.approx(
        first["tempo"], abs=0.05
    )
    assert rows[0]["key"] == first["key"] and rows[0]["instrument"] == ", ".join(first["instrument"])
    assert len(corpus_prompts(synth_corpus, n=2)) == 2
    # a damaged copy is not a prompt: its caption describes the original
    damaged = truth.iloc[[0]].assign(track_id=truth["track_id"].max() + 1, defect="clipping")
    copy = tmp_path / "corpus"
    copy.mkdir()
    pd.concat([truth, damaged]).to_parquet(copy / "truth.parquet")
    assert len(corpus_prompts(copy)) == len(truth)
    with pytest.raises(ValueError, match="truth.parquet"):
        corpus_prompts(tmp_path / "nowhere")
